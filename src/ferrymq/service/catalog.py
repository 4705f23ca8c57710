"""What the service offers: engines, versions, instance types (named as Amazon MQ's)."""

from __future__ import annotations

ENGINE = "ACTIVEMQ"
ENGINE_VERSIONS = ["5.19", "5.18"]
DEFAULT_ENGINE_VERSION = "5.18"
SINGLE = "SINGLE_INSTANCE"
ACTIVE_STANDBY = "ACTIVE_STANDBY_MULTI_AZ"
CLUSTER = "CLUSTER_MULTI_AZ"
DEPLOYMENT_MODES = {SINGLE, ACTIVE_STANDBY, CLUSTER}
# instance type -> (deployment modes, storage types)
INSTANCE_TYPES: dict[str, tuple[list[str], list[str]]] = {
    "mq.t3.micro": ([SINGLE], ["EFS"]),
    "mq.m5.large": ([SINGLE, ACTIVE_STANDBY], ["EBS", "EFS"]),
    "mq.m5.xlarge": ([SINGLE, ACTIVE_STANDBY], ["EBS", "EFS"]),
    "mq.m5.2xlarge": ([SINGLE, ACTIVE_STANDBY], ["EBS", "EFS"]),
    "mq.m5.4xlarge": ([SINGLE, ACTIVE_STANDBY], ["EBS", "EFS"]),
}


def instance_options(region: str) -> list[dict[str, object]]:
    zones = [{"name": f"{region}{z}"} for z in "abc"]
    out: list[dict[str, object]] = []
    for itype, (modes, storages) in INSTANCE_TYPES.items():
        for storage in storages:
            out.append(
                {
                    "engineType": ENGINE,
                    "hostInstanceType": itype,
                    "storageType": storage,
                    "availabilityZones": zones,
                    # EBS is single-instance storage, as on Amazon MQ
                    "supportedDeploymentModes": [SINGLE] if storage == "EBS" else list(modes),
                    "supportedEngineVersions": list(ENGINE_VERSIONS),
                }
            )
    return out


def engine_types() -> list[dict[str, object]]:
    return [{"engineType": ENGINE, "engineVersions": [{"name": v} for v in ENGINE_VERSIONS]}]
