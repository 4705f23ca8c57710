from ferrymq.config.schema import DEFAULT_PORTS, BrokerConfig, ConfigError, load_config, parse_config

__all__ = ["DEFAULT_PORTS", "BrokerConfig", "ConfigError", "load_config", "parse_config"]
