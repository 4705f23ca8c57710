"""The managed service: brokers, their users and tags, their life cycle.

One ``BrokerService`` owns the records (in memory, written through to SQLite), the
configurations, and a ``Supervisor`` that runs the broker instance processes. API
operations validate, change the record and answer at once; the slow part of CreateBroker,
RebootBroker and DeleteBroker runs in a background task per broker. The state a call
leads to is set before it answers (after RebootBroker returns, DescribeBroker never shows
the pre-reboot RUNNING), and RUNNING is reported only when every endpoint of the active
instance accepts connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import shutil
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from ferrymq.http.mq_api import ApiError, bad_request, conflict, not_found
from ferrymq.service import catalog
from ferrymq.service import validate as v
from ferrymq.service.config import ServiceConfig
from ferrymq.service.configs import Configurations, check_auth_strategy, check_engine
from ferrymq.service.crypto import SecretBox
from ferrymq.service.db import ServiceDB
from ferrymq.service.instances import (
    ENDPOINTS,
    PORTS_PER_INSTANCE,
    allocate_ports,
    bind_address,
    broker_file,
    endpoints,
    instance_spec,
    listener_name,
    write_broker_file,
)
from ferrymq.service.supervisor import Supervisor, list_protocols
from ferrymq.service.timefmt import now_iso

log = logging.getLogger("ferrymq.service")

CREATING = "CREATION_IN_PROGRESS"
CREATION_FAILED = "CREATION_FAILED"
RUNNING = "RUNNING"
REBOOTING = "REBOOT_IN_PROGRESS"
DELETING = "DELETION_IN_PROGRESS"
CRITICAL = "CRITICAL_ACTION_REQUIRED"
_PUBLIC_USER_FIELDS = ("groups", "consoleAccess", "replicationUser")


class BrokerService:
    def __init__(self, cfg: ServiceConfig, db: ServiceDB, box: SecretBox, supervisor: Supervisor) -> None:
        self.cfg = cfg
        self._db = db
        self._box = box
        self.supervisor = supervisor
        self.configs = Configurations(db, cfg.region, cfg.account)
        self.brokers: dict[str, dict[str, Any]] = {d["brokerId"]: d for d in db.brokers()}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ service life
    async def start(self) -> None:
        """Bring back what was running before the service stopped, on the same ports."""
        for doc in list(self.brokers.values()):
            state = doc["brokerState"]
            if state == DELETING:
                self._spawn(doc["brokerId"], self._delete(doc["brokerId"]))
            elif state == CREATING:
                self._spawn(doc["brokerId"], self._bring_up(doc["brokerId"], CREATION_FAILED))
            elif state == REBOOTING:
                self._spawn(doc["brokerId"], self._reboot(doc["brokerId"]))
            elif state in (RUNNING, CRITICAL):
                self._set_state(doc, REBOOTING)
                self._spawn(doc["brokerId"], self._bring_up(doc["brokerId"], CRITICAL))

    async def close(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task
        await self.supervisor.close()

    async def settle(self) -> None:
        """Wait for every background transition (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def _spawn(self, broker_id: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=f"broker {broker_id}")
        self._tasks[broker_id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._tasks.get(broker_id) is t:
                del self._tasks[broker_id]
            if not t.cancelled() and t.exception() is not None:
                log.error("broker %s transition failed", broker_id, exc_info=t.exception())

        task.add_done_callback(done)

    # ------------------------------------------------------------------ records
    def _save(self, doc: dict[str, Any], token: str | None = None) -> None:
        self._db.put_broker(doc, token)
        self.brokers[doc["brokerId"]] = doc

    def _set_state(self, doc: dict[str, Any], state: str) -> None:
        doc["brokerState"] = state
        self._save(doc)

    def _broker(self, broker_id: str) -> dict[str, Any]:
        doc = self.brokers.get(broker_id)
        if doc is None:
            raise not_found(f"Can't find requested broker [{broker_id}].", "broker-id")
        return doc

    def broker_dir(self, broker_id: str) -> Path:
        return self.cfg.data_dir / "brokers" / broker_id

    def _seal(self, broker_id: str, name: str, password: str) -> str:
        return base64.b64encode(self._box.seal(password, f"user:{broker_id}:{name}")).decode()

    def _unseal(self, broker_id: str, name: str, sealed: str) -> str:
        return self._box.open(base64.b64decode(sealed), f"user:{broker_id}:{name}")

    # ------------------------------------------------------------------ catalogue
    async def describe_broker_engine_types(self, params: dict[str, Any]) -> dict[str, Any]:
        engine = params.get("engineType")
        items = catalog.engine_types()
        if engine:
            if engine.upper() not in ("ACTIVEMQ", "RABBITMQ"):
                raise bad_request("engineType must be ACTIVEMQ or RABBITMQ", "engineType")
            items = [i for i in items if i["engineType"] == engine.upper()]
        chunk, token = v.page(items, lambda i: (i["engineType"],), params, default=100)
        out: dict[str, Any] = {"brokerEngineTypes": chunk, "maxResults": v.max_results(params, 100)}
        if token:
            out["nextToken"] = token
        return out

    async def describe_broker_instance_options(self, params: dict[str, Any]) -> dict[str, Any]:
        items = catalog.instance_options(self.cfg.region)
        engine = params.get("engineType")
        if engine:
            if engine.upper() not in ("ACTIVEMQ", "RABBITMQ"):
                raise bad_request("engineType must be ACTIVEMQ or RABBITMQ", "engineType")
            items = [i for i in items if i["engineType"] == engine.upper()]
        if params.get("hostInstanceType"):
            items = [i for i in items if i["hostInstanceType"] == params["hostInstanceType"]]
        if params.get("storageType"):
            st = params["storageType"].upper()
            if st not in ("EBS", "EFS"):
                raise bad_request("storageType must be EBS or EFS", "storageType")
            items = [i for i in items if i["storageType"] == st]
        chunk, token = v.page(items, lambda i: (i["hostInstanceType"], i["storageType"]), params, default=100)
        out: dict[str, Any] = {"brokerInstanceOptions": chunk, "maxResults": v.max_results(params, 100)}
        if token:
            out["nextToken"] = token
        return out

    # ------------------------------------------------------------------ brokers
    def _check_unsupported(self, params: dict[str, Any]) -> None:
        if params.get("ldapServerMetadata") is not None:
            raise v.unsupported("ldapServerMetadata", "LDAP authentication")
        if params.get("dataReplicationMode") not in (None, "NONE"):
            raise v.unsupported("dataReplicationMode", "cross-region data replication")
        if params.get("dataReplicationPrimaryBrokerArn") is not None:
            raise v.unsupported("dataReplicationPrimaryBrokerArn", "cross-region data replication")
        if params.get("storageSize") is not None:
            raise v.unsupported("storageSize", "storageSize (RabbitMQ only)")
        if params.get("resourceShareArns") is not None:
            raise v.unsupported("resourceShareArns", "resource shares")

    def _check_security_groups(self, groups: list[str] | None, limit: int) -> list[str] | None:
        if groups is None:
            return None
        if not (1 <= len(groups) <= limit):
            raise bad_request(f"securityGroups must name 1 to {limit} security groups", "securityGroups")
        for g in groups:
            if g not in self.cfg.security_groups:
                raise bad_request(
                    f"Security group {g} is not defined in the service configuration", "securityGroups"
                )
        return groups

    def _check_instance_type(self, itype: Any, mode: str) -> str:
        if not isinstance(itype, str) or itype not in catalog.INSTANCE_TYPES:
            raise bad_request(
                f"hostInstanceType {itype} is not supported (supported: {', '.join(catalog.INSTANCE_TYPES)})",
                "hostInstanceType",
            )
        if mode not in catalog.INSTANCE_TYPES[itype][0]:
            raise bad_request(f"{itype} does not support deployment mode {mode}", "hostInstanceType")
        return itype

    def _user_input(self, raw: Any) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise bad_request("users must be a list of objects", "users")
        name = v.username(raw.get("username"))
        v.password(raw.get("password"))
        if raw.get("replicationUser"):
            raise v.unsupported("replicationUser", "replication users")
        console = raw.get("consoleAccess", False)
        if not isinstance(console, bool):
            raise bad_request("consoleAccess must be a boolean", "consoleAccess")
        return {
            "username": name,
            "password": raw["password"],
            "groups": v.groups(raw.get("groups")),
            "consoleAccess": console,
        }

    async def create_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        self._check_unsupported(params)
        name = v.broker_name(v.require(params, "brokerName"))
        _, version = check_engine(params)
        mode = v.require(params, "deploymentMode")
        if mode not in catalog.DEPLOYMENT_MODES:
            raise bad_request(
                "deploymentMode must be SINGLE_INSTANCE or ACTIVE_STANDBY_MULTI_AZ", "deploymentMode"
            )
        if mode == catalog.CLUSTER:
            raise v.unsupported("deploymentMode", "CLUSTER_MULTI_AZ (RabbitMQ only)")
        itype = self._check_instance_type(v.require(params, "hostInstanceType"), mode)
        public = v.require(params, "publiclyAccessible")
        if not isinstance(public, bool):
            raise bad_request("publiclyAccessible must be a boolean", "publiclyAccessible")
        auth = check_auth_strategy(params)
        auto_minor = v.boolean(params, "autoMinorVersionUpgrade", True)
        if auto_minor is False:
            raise bad_request(
                "autoMinorVersionUpgrade must be true for ActiveMQ 5.18 and later", "autoMinorVersionUpgrade"
            )
        storage = (v.string(params, "storageType") or "EFS").upper()
        if storage not in ("EFS", "EBS"):
            raise bad_request("storageType must be EFS or EBS", "storageType")
        if storage not in catalog.INSTANCE_TYPES[itype][1] or (storage == "EBS" and mode != catalog.SINGLE):
            raise bad_request(f"storageType {storage} is not available for {itype} in {mode}", "storageType")
        enc = params.get("encryptionOptions")
        if enc is not None:
            if not isinstance(enc, dict) or not isinstance(enc.get("useAwsOwnedKey"), bool):
                raise bad_request("encryptionOptions.useAwsOwnedKey is required", "useAwsOwnedKey")
            if enc.get("kmsKeyId"):
                raise v.unsupported("kmsKeyId", "customer-managed KMS keys")
        security_groups = self._check_security_groups(v.string_list(params, "securityGroups"), 5)
        subnets = v.string_list(params, "subnetIds")
        if subnets is not None and len(subnets) > (1 if mode == catalog.SINGLE else 2):
            raise bad_request(
                f"{mode} takes at most {1 if mode == catalog.SINGLE else 2} subnets", "subnetIds"
            )
        window = v.maintenance_window(params.get("maintenanceWindowStartTime"))
        logs = v.logs(params.get("logs")) or {}
        tags = v.tags(params.get("tags"))
        users_raw = params.get("users") or []
        if not isinstance(users_raw, list) or not users_raw:
            raise bad_request("A broker with SIMPLE authentication needs at least one user", "users")
        if len(users_raw) > v.MAX_USERS:
            raise bad_request(f"A broker can have at most {v.MAX_USERS} users", "users")
        users = [self._user_input(u) for u in users_raw]
        if len({u["username"] for u in users}) != len(users):
            raise bad_request("User names must be unique", "users")
        config_ref = self.configs.check_ref(params["configuration"]) if params.get("configuration") else None
        token = v.string(params, "creatorRequestId")

        if token:
            prior = self._db.broker_for_request(token)
            if prior is not None and prior in self.brokers:
                first = self.brokers[prior]
                if first["brokerName"] != name:
                    raise conflict("creatorRequestId was already used for another broker", "creatorRequestId")
                return {"brokerArn": first["brokerArn"], "brokerId": first["brokerId"]}
        if any(d["brokerName"] == name for d in self.brokers.values()):
            raise conflict(f"Broker name {name} is already used", "brokerName")

        count = 1 if mode == catalog.SINGLE else 2
        used = {p for d in self.brokers.values() for i in d["_instances"] for p in i["ports"].values()}
        bind = bind_address(self.cfg, public)
        ports = allocate_ports(self.cfg, used, PORTS_PER_INSTANCE * count, bind)
        if ports is None:
            raise bad_request("The service has no free ports left in its broker port range")
        if config_ref is None:
            cdoc = self.configs.create(f"{name}-configuration", version, auth, {})
            config_ref = {"id": cdoc["id"], "revision": 1}

        broker_id = f"b-{uuid.uuid4()}"
        instances = []
        for n in range(count):
            chunk = ports[n * PORTS_PER_INSTANCE : (n + 1) * PORTS_PER_INSTANCE]
            instances.append({"ports": dict(zip(ENDPOINTS, chunk, strict=True))})
        doc: dict[str, Any] = {
            "brokerId": broker_id,
            "brokerArn": f"arn:aws:mq:{self.cfg.region}:{self.cfg.account}:broker:{name}:{broker_id}",
            "brokerName": name,
            "brokerState": CREATING,
            "created": now_iso(),
            "deploymentMode": mode,
            "engineType": catalog.ENGINE,
            "engineVersion": version,
            "hostInstanceType": itype,
            "publiclyAccessible": public,
            "autoMinorVersionUpgrade": True,
            "authenticationStrategy": auth,
            "maintenanceWindowStartTime": window
            or {"dayOfWeek": "SUNDAY", "timeOfDay": "02:00", "timeZone": "UTC"},
            "configurations": {"current": config_ref, "history": []},
            "tags": tags,
            "storageType": storage,
            "encryptionOptions": {"useAwsOwnedKey": True}
            if enc is None
            else {"useAwsOwnedKey": enc["useAwsOwnedKey"]},
            "logs": {"general": logs.get("general", False), "audit": logs.get("audit", False)},
            "securityGroups": security_groups or [],
            "subnetIds": subnets or [],
            "_users": {
                u["username"]: {
                    "applied": {
                        "password": self._seal(broker_id, u["username"], u["password"]),
                        "groups": u["groups"],
                        "consoleAccess": u["consoleAccess"],
                    },
                    "pending": None,
                }
                for u in users
            },
            "_instances": instances,
            "_protocols": [],
            "_hasRun": False,
        }
        self._save(doc, token)
        self._spawn(broker_id, self._bring_up(broker_id, CREATION_FAILED))
        return {"brokerArn": doc["brokerArn"], "brokerId": broker_id}

    def _public(self, doc: dict[str, Any]) -> dict[str, Any]:
        out = {k: val for k, val in doc.items() if not k.startswith("_")}
        bid = doc["brokerId"]
        logs = dict(doc["logs"])
        logs["generalLogGroup"] = f"/aws/amazonmq/broker/{bid}/general"
        if logs.get("audit"):
            logs["auditLogGroup"] = f"/aws/amazonmq/broker/{bid}/audit"
        out["logs"] = logs
        out["users"] = [self._user_summary(name, u) for name, u in sorted(doc["_users"].items())]
        if doc.get("_hasRun") and doc["brokerState"] not in (CREATING, CREATION_FAILED, DELETING):
            out["brokerInstances"] = []
            for inst in doc["_instances"]:
                urls, console = endpoints(self.cfg, inst["ports"], doc["_protocols"])
                item: dict[str, Any] = {"endpoints": urls, "ipAddress": self.cfg.advertised_host}
                if console:
                    item["consoleURL"] = console
                out["brokerInstances"].append(item)
        return out

    @staticmethod
    def _user_summary(name: str, user: dict[str, Any]) -> dict[str, Any]:
        item: dict[str, Any] = {"username": name}
        if user["pending"]:
            item["pendingChange"] = user["pending"]["change"]
        return item

    async def describe_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._public(self._broker(params["broker-id"]))

    async def list_brokers(self, params: dict[str, Any]) -> dict[str, Any]:
        items = sorted(self.brokers.values(), key=lambda d: (d["created"], d["brokerId"]))
        chunk, token = v.page(items, lambda d: (d["created"], d["brokerId"]), params)
        keys = (
            "brokerArn",
            "brokerId",
            "brokerName",
            "brokerState",
            "created",
            "deploymentMode",
            "engineType",
            "hostInstanceType",
        )
        out: dict[str, Any] = {"brokerSummaries": [{k: d[k] for k in keys} for d in chunk]}
        if token:
            out["nextToken"] = token
        return out

    async def update_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        self._check_unsupported(params)
        if doc["brokerState"] not in (RUNNING, CRITICAL, REBOOTING, CREATING):
            raise bad_request(
                f"Broker {doc['brokerId']} is {doc['brokerState']} and cannot be updated", "broker-id"
            )
        out: dict[str, Any] = {"brokerId": doc["brokerId"]}
        if params.get("authenticationStrategy") is not None:
            out["authenticationStrategy"] = check_auth_strategy(params)
        changes: dict[str, Any] = {}
        if params.get("configuration") is not None:
            ref = self.configs.check_ref(params["configuration"])
            changes["configuration"] = ref
            out["configuration"] = ref
        if params.get("engineVersion") is not None:
            _, version = check_engine({"engineType": "ACTIVEMQ", "engineVersion": params["engineVersion"]})
            changes["engineVersion"] = version
            out["engineVersion"] = version
        if params.get("hostInstanceType") is not None:
            itype = self._check_instance_type(params["hostInstanceType"], doc["deploymentMode"])
            changes["hostInstanceType"] = itype
            out["hostInstanceType"] = itype
        groups = self._check_security_groups(v.string_list(params, "securityGroups"), 5)
        if groups is not None:
            changes["securityGroups"] = groups
            out["securityGroups"] = groups
        auto_minor = v.boolean(params, "autoMinorVersionUpgrade")
        if auto_minor is not None:
            if not auto_minor:
                raise bad_request(
                    "autoMinorVersionUpgrade must be true for ActiveMQ 5.18 and later",
                    "autoMinorVersionUpgrade",
                )
            out["autoMinorVersionUpgrade"] = True
        window = v.maintenance_window(params.get("maintenanceWindowStartTime"))
        logs = v.logs(params.get("logs"))
        # everything checked: apply
        if "configuration" in changes:
            doc["configurations"]["pending"] = changes["configuration"]
        if "engineVersion" in changes and changes["engineVersion"] != doc["engineVersion"]:
            doc["pendingEngineVersion"] = changes["engineVersion"]
        if "hostInstanceType" in changes and changes["hostInstanceType"] != doc["hostInstanceType"]:
            doc["pendingHostInstanceType"] = changes["hostInstanceType"]
        if "securityGroups" in changes:
            doc["pendingSecurityGroups"] = changes["securityGroups"]
        if window is not None:
            doc["maintenanceWindowStartTime"] = window
            out["maintenanceWindowStartTime"] = window
        if logs:
            doc["logs"]["pending"] = {**doc["logs"].get("pending", {}), **logs}
            out["logs"] = logs
        self._save(doc)
        return out

    async def reboot_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        if doc["brokerState"] not in (RUNNING, CRITICAL):
            raise bad_request(
                f"Broker {doc['brokerId']} is {doc['brokerState']} and cannot be rebooted", "broker-id"
            )
        self._set_state(doc, REBOOTING)
        self._spawn(doc["brokerId"], self._reboot(doc["brokerId"]))
        return {}

    async def delete_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        if doc["brokerState"] not in (RUNNING, CREATION_FAILED, CRITICAL):
            raise bad_request(
                f"Broker {doc['brokerId']} is {doc['brokerState']} and cannot be deleted", "broker-id"
            )
        self._set_state(doc, DELETING)
        old = self._tasks.get(doc["brokerId"])
        if old is not None:
            old.cancel()
        self._spawn(doc["brokerId"], self._delete(doc["brokerId"]))
        return {"brokerId": doc["brokerId"]}

    async def promote(self, params: dict[str, Any]) -> dict[str, Any]:
        self._broker(params["broker-id"])
        raise v.unsupported("mode", "Promote (cross-region data replication)")

    async def describe_shared_resources(self, params: dict[str, Any]) -> dict[str, Any]:
        self._broker(params["broker-id"])
        raise v.unsupported("broker-id", "DescribeSharedResources")

    # ------------------------------------------------------------------ transitions
    def _apply_pending(self, doc: dict[str, Any]) -> None:
        users = doc["_users"]
        for name in list(users):
            pending = users[name]["pending"]
            if pending is None:
                continue
            if pending["change"] == "DELETE":
                del users[name]
                continue
            applied = dict(users[name]["applied"] or {})
            for key in ("password", "groups", "consoleAccess"):
                if key in pending:
                    applied[key] = pending[key]
            users[name] = {"applied": applied, "pending": None}
        confs = doc["configurations"]
        if confs.get("pending"):
            confs["history"].append(confs["current"])
            confs["current"] = confs.pop("pending")
        for pending_key, key in (
            ("pendingEngineVersion", "engineVersion"),
            ("pendingHostInstanceType", "hostInstanceType"),
            ("pendingSecurityGroups", "securityGroups"),
        ):
            if pending_key in doc:
                doc[key] = doc.pop(pending_key)
        if "pending" in doc["logs"]:
            doc["logs"].update(doc["logs"].pop("pending"))

    async def _start_instances(self, doc: dict[str, Any]) -> bool:
        available = await list_protocols(self.cfg.serve_command)
        doc["_protocols"] = available
        if not available:
            log.error("broker %s: `serve --list-protocols` gave no listener names", doc["brokerId"])
            return False
        base = self.broker_dir(doc["brokerId"])
        data_dir = base / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        users = [
            {
                "username": name,
                "password": self._unseal(doc["brokerId"], name, u["applied"]["password"]),
                "groups": u["applied"].get("groups", []),
                "console_access": u["applied"].get("consoleAccess", False),
            }
            for name, u in sorted(doc["_users"].items())
            if u["applied"] is not None
        ]
        current = doc["configurations"]["current"]
        sections = self.configs.data_for(current["id"], current["revision"])
        allow = sorted({c for g in doc["securityGroups"] for c in self.cfg.security_groups.get(g, [])})
        if allow:
            allow.append("127.0.0.1/32")  # the service's own readiness probe
        bind = bind_address(self.cfg, doc["publiclyAccessible"])
        specs = []
        for n, inst in enumerate(doc["_instances"], start=1):
            listeners = {
                listener_name(lg, self.cfg.tls): port
                for lg, port in inst["ports"].items()
                if listener_name(lg, self.cfg.tls) in available
            }
            path = base / f"instance-{n}.yaml"
            write_broker_file(path, broker_file(doc, users, sections, self.cfg, data_dir, listeners, allow))
            specs.append(
                instance_spec(
                    self.cfg,
                    f"{doc['brokerId']}-{n}",
                    path,
                    data_dir,
                    bind,
                    inst["ports"],
                    available,
                    base / f"instance-{n}.log",
                )
            )
        await self.supervisor.start(doc["brokerId"], specs)
        return await self.supervisor.wait_serving(doc["brokerId"], self.cfg.start_timeout)

    async def _bring_up(self, broker_id: str, on_failure: str) -> None:
        doc = self.brokers[broker_id]
        try:
            ok = await self._start_instances(doc)
        except (OSError, ValueError) as exc:
            log.error("broker %s failed to start: %s", broker_id, exc)
            ok = False
        if ok:
            doc["_hasRun"] = True
            doc.pop("actionsRequired", None)
            self._set_state(doc, RUNNING)
            return
        await self.supervisor.stop(broker_id)
        if on_failure == CRITICAL:
            doc["actionsRequired"] = [
                {
                    "actionRequiredCode": "BROKER_START_FAILED",
                    "actionRequiredInfo": f"The broker did not accept connections within {self.cfg.start_timeout:.0f}s; "
                    f"see {self.broker_dir(broker_id)}/instance-1.log",
                }
            ]
        self._set_state(doc, on_failure)

    async def _reboot(self, broker_id: str) -> None:
        doc = self.brokers[broker_id]
        await self.supervisor.stop(broker_id)
        self._apply_pending(doc)
        self._save(doc)
        await self._bring_up(broker_id, CRITICAL)

    async def _delete(self, broker_id: str) -> None:
        await self.supervisor.stop(broker_id)
        await asyncio.to_thread(shutil.rmtree, self.broker_dir(broker_id), True)
        self._db.delete_broker(broker_id)
        self.brokers.pop(broker_id, None)

    # ------------------------------------------------------------------ users
    def _user_broker(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        if doc["brokerState"] == DELETING:
            raise bad_request(f"Broker {doc['brokerId']} is being deleted", "broker-id")
        return doc

    def _user(self, doc: dict[str, Any], name: str) -> dict[str, Any]:
        user = doc["_users"].get(name)
        if user is None:
            raise not_found(f"Can't find requested user [{name}] on broker [{doc['brokerId']}].", "username")
        return user

    async def create_user(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._user_broker(params)
        data = self._user_input({**params, "username": params["username"]})
        if data["username"] in doc["_users"]:
            raise conflict(f"User {data['username']} already exists on broker {doc['brokerId']}", "username")
        if len(doc["_users"]) >= v.MAX_USERS:
            raise bad_request(f"A broker can have at most {v.MAX_USERS} users", "username")
        doc["_users"][data["username"]] = {
            "applied": None,
            "pending": {
                "change": "CREATE",
                "password": self._seal(doc["brokerId"], data["username"], data["password"]),
                "groups": data["groups"],
                "consoleAccess": data["consoleAccess"],
            },
        }
        self._save(doc)
        return {}

    async def update_user(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._user_broker(params)
        name = params["username"]
        user = self._user(doc, name)
        if user["pending"] and user["pending"]["change"] == "DELETE":
            raise conflict(f"User {name} is pending deletion", "username")
        if params.get("replicationUser"):
            raise v.unsupported("replicationUser", "replication users")
        change = dict(user["pending"] or {"change": "UPDATE"})
        if params.get("password") is not None:
            change["password"] = self._seal(doc["brokerId"], name, v.password(params["password"]))
        if params.get("groups") is not None:
            change["groups"] = v.groups(params["groups"])
        console = v.boolean(params, "consoleAccess")
        if console is not None:
            change["consoleAccess"] = console
        user["pending"] = change
        self._save(doc)
        return {}

    async def delete_user(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._user_broker(params)
        name = params["username"]
        user = self._user(doc, name)
        if user["applied"] is None:
            del doc["_users"][name]
        else:
            user["pending"] = {"change": "DELETE"}
        self._save(doc)
        return {}

    async def describe_user(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        name = params["username"]
        user = self._user(doc, name)
        current = user["applied"] or user["pending"] or {}
        out: dict[str, Any] = {
            "brokerId": doc["brokerId"],
            "username": name,
            "consoleAccess": current.get("consoleAccess", False),
            "groups": current.get("groups", []),
            "replicationUser": False,
        }
        if user["pending"]:
            pending: dict[str, Any] = {"pendingChange": user["pending"]["change"]}
            for key in ("groups", "consoleAccess"):
                if key in user["pending"]:
                    pending[key] = user["pending"][key]
            out["pending"] = pending
        return out

    async def list_users(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self._broker(params["broker-id"])
        names = sorted(doc["_users"])
        chunk, token = v.page(names, lambda n: (n,), params)
        out: dict[str, Any] = {
            "brokerId": doc["brokerId"],
            "maxResults": v.max_results(params),
            "users": [self._user_summary(n, doc["_users"][n]) for n in chunk],
        }
        if token:
            out["nextToken"] = token
        return out

    # ------------------------------------------------------------------ configurations
    async def create_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.api_create(params)

    async def describe_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.describe(params["configuration-id"])

    async def list_configurations(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.api_list(params)

    async def update_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        return await asyncio.to_thread(self.configs.update, params)

    async def delete_configuration(self, params: dict[str, Any]) -> dict[str, Any]:
        cid = params["configuration-id"]
        in_use = any(
            ref and ref.get("id") == cid
            for d in self.brokers.values()
            for ref in (d["configurations"].get("current"), d["configurations"].get("pending"))
        )
        return self.configs.delete(cid, in_use)

    async def list_configuration_revisions(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.list_revisions(params)

    async def describe_configuration_revision(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.configs.describe_revision(params)

    # ------------------------------------------------------------------ tags
    def _resource(self, arn: str) -> tuple[str, str]:
        parts = arn.split(":")
        if (
            len(parts) < 7
            or parts[0] != "arn"
            or parts[2] != "mq"
            or parts[5] not in ("broker", "configuration")
        ):
            raise bad_request(f"{arn} is not an Amazon MQ broker or configuration ARN", "resource-arn")
        for d in self.brokers.values():
            if d["brokerArn"] == arn:
                return "broker", d["brokerId"]
        for cid, c in self.configs.docs.items():
            if c["arn"] == arn:
                return "configuration", cid
        raise not_found(f"Can't find requested resource [{arn}].", "resource-arn")

    def _tags_of(self, kind: str, rid: str) -> dict[str, str]:
        return dict(self.brokers[rid]["tags"] if kind == "broker" else self.configs.docs[rid].get("tags", {}))

    def _set_tags(self, kind: str, rid: str, tags: dict[str, str]) -> None:
        if len(tags) > v.MAX_TAGS:
            raise bad_request(f"A resource can have at most {v.MAX_TAGS} tags", "tags")
        if kind == "broker":
            doc = self.brokers[rid]
            doc["tags"] = tags
            self._save(doc)
        else:
            self.configs.set_tags(rid, tags)

    async def create_tags(self, params: dict[str, Any]) -> None:
        kind, rid = self._resource(params["resource-arn"])
        new = v.tags(v.require(params, "tags"))
        self._set_tags(kind, rid, {**self._tags_of(kind, rid), **new})

    async def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        kind, rid = self._resource(params["resource-arn"])
        return {"tags": self._tags_of(kind, rid)}

    async def delete_tags(self, params: dict[str, Any]) -> None:
        kind, rid = self._resource(params["resource-arn"])
        keys = v.require(params, "tagKeys")
        tags = self._tags_of(kind, rid)
        for k in keys:
            tags.pop(k, None)
        self._set_tags(kind, rid, tags)


__all__ = ["ApiError", "BrokerService"]
