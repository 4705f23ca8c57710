"""ferrymq: a self-hosted message broker service compatible with Amazon MQ for ActiveMQ."""
__version__ = "0.1.0"
