"""Configurations and their revisions (CreateConfiguration ... DescribeConfigurationRevision)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from ferrymq.config.activemq_xml import XmlConfigError, default_data, sanitize, translate
from ferrymq.http.mq_api import bad_request, conflict, not_found
from ferrymq.service import validate as v
from ferrymq.service.catalog import DEFAULT_ENGINE_VERSION, ENGINE, ENGINE_VERSIONS
from ferrymq.service.db import RevisionRow, ServiceDB
from ferrymq.service.timefmt import now_iso

MAX_REVISIONS = 300


def check_engine(params: dict[str, Any]) -> tuple[str, str]:
    engine = v.require(params, "engineType")
    if not isinstance(engine, str) or engine.upper() not in ("ACTIVEMQ", "RABBITMQ"):
        raise bad_request("engineType must be ACTIVEMQ", "engineType")
    if engine.upper() != ENGINE:
        raise v.unsupported("engineType", "RabbitMQ")
    version = params.get("engineVersion") or DEFAULT_ENGINE_VERSION
    if version not in ENGINE_VERSIONS:
        raise bad_request(
            f"engineVersion {version} is not supported (supported: {', '.join(ENGINE_VERSIONS)})",
            "engineVersion",
        )
    return ENGINE, version


def check_auth_strategy(params: dict[str, Any]) -> str:
    strategy = params.get("authenticationStrategy") or "SIMPLE"
    if not isinstance(strategy, str) or strategy.upper() not in ("SIMPLE", "LDAP", "CONFIG_MANAGED"):
        raise bad_request("authenticationStrategy must be SIMPLE", "authenticationStrategy")
    if strategy.upper() != "SIMPLE":
        raise v.unsupported("authenticationStrategy", f"{strategy.upper()} authentication")
    return "SIMPLE"


class Configurations:
    def __init__(self, db: ServiceDB, region: str, account: str) -> None:
        self._db = db
        self._region = region
        self._account = account
        self.docs: dict[str, dict[str, Any]] = {d["id"]: d for d in db.configurations()}

    def arn(self, config_id: str) -> str:
        return f"arn:aws:mq:{self._region}:{self._account}:configuration:{config_id}"

    def get(self, config_id: str, attribute: str = "configuration-id") -> dict[str, Any]:
        doc = self.docs.get(config_id)
        if doc is None:
            raise not_found(f"Can't find requested configuration [{config_id}].", attribute)
        return doc

    def create(
        self, name: str, engine_version: str, auth: str, tags: dict[str, str], description: str | None = None
    ) -> dict[str, Any]:
        config_id = f"c-{uuid.uuid4()}"
        created = now_iso()
        desc = description or "Auto-generated default for " + name
        rev: dict[str, Any] = {"revision": 1, "created": created, "description": desc}
        doc = {
            "id": config_id,
            "arn": self.arn(config_id),
            "name": name,
            "engineType": ENGINE,
            "engineVersion": engine_version,
            "authenticationStrategy": auth,
            "created": created,
            "latestRevision": rev,
            "tags": tags,
        }
        self._db.put_configuration(doc, RevisionRow(config_id, 1, created, desc, default_data()))
        self.docs[config_id] = doc
        return doc

    def data_for(self, config_id: str, revision: int) -> dict[str, Any]:
        """Broker-file sections translated from one revision."""
        row = self._db.revision(config_id, revision)
        if row is None:
            return {}
        return translate(base64.b64decode(row.data).decode())

    def check_ref(self, ref: Any) -> dict[str, Any]:
        """A ConfigurationId given to CreateBroker/UpdateBroker, resolved to {id, revision}."""
        if not isinstance(ref, dict) or not isinstance(ref.get("id"), str):
            raise bad_request("configuration must be an object with an id", "configuration")
        doc = self.get(ref["id"], "configuration")
        revision = ref.get("revision", doc["latestRevision"]["revision"])
        if not isinstance(revision, int) or self._db.revision(doc["id"], revision) is None:
            raise not_found(f"Configuration {doc['id']} has no revision {revision}.", "revision")
        return {"id": doc["id"], "revision": revision}

    # ------------------------------------------------------------------------ operations
    def api_create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = v.configuration_name(v.require(params, "name"))
        _, version = check_engine(params)
        auth = check_auth_strategy(params)
        tags = v.tags(params.get("tags"))
        doc = self.create(name, version, auth, tags)
        return {
            k: doc[k] for k in ("arn", "authenticationStrategy", "created", "id", "latestRevision", "name")
        }

    def describe(self, config_id: str) -> dict[str, Any]:
        doc = self.get(config_id)
        out = dict(doc)
        out["description"] = doc["latestRevision"].get("description") or ""
        return out

    def api_list(self, params: dict[str, Any]) -> dict[str, Any]:
        items = sorted(self.docs.values(), key=lambda d: (d["created"], d["id"]))
        chunk, token = v.page(items, lambda d: (d["created"], d["id"]), params)
        out: dict[str, Any] = {
            "configurations": [self.describe(d["id"]) for d in chunk],
            "maxResults": v.max_results(params),
        }
        if token:
            out["nextToken"] = token
        return out

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.get(params["configuration-id"])
        data = v.require(params, "data")
        if not isinstance(data, str):
            raise bad_request("data must be a base64 string", "data")
        description = v.string(params, "description")
        try:
            result = sanitize(data)
        except XmlConfigError as exc:
            raise bad_request(str(exc), "data") from None
        latest = doc["latestRevision"]["revision"]
        if latest >= MAX_REVISIONS:
            raise conflict(f"A configuration can have at most {MAX_REVISIONS} revisions", "configuration-id")
        created = now_iso()
        rev: dict[str, Any] = {"revision": latest + 1, "created": created}
        if description is not None:
            rev["description"] = description
        stored = base64.b64encode(result.xml.encode()).decode()
        new_doc = dict(doc, latestRevision=rev)
        self._db.put_configuration(new_doc, RevisionRow(doc["id"], latest + 1, created, description, stored))
        self.docs[doc["id"]] = new_doc
        return {
            "arn": doc["arn"],
            "created": doc["created"],
            "id": doc["id"],
            "latestRevision": rev,
            "name": doc["name"],
            "warnings": result.warnings,
        }

    def delete(self, config_id: str, in_use: bool) -> dict[str, Any]:
        self.get(config_id)
        if in_use:
            raise conflict(f"Configuration {config_id} is used by a broker", "configuration-id")
        self._db.delete_configuration(config_id)
        del self.docs[config_id]
        return {"configurationId": config_id}

    def list_revisions(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.get(params["configuration-id"])
        rows = self._db.revisions(doc["id"])
        chunk, token = v.page(rows, lambda r: (r.revision,), params)
        revisions = []
        for r in chunk:
            item: dict[str, Any] = {"revision": r.revision, "created": r.created}
            if r.description is not None:
                item["description"] = r.description
            revisions.append(item)
        out: dict[str, Any] = {
            "configurationId": doc["id"],
            "maxResults": v.max_results(params),
            "revisions": revisions,
        }
        if token:
            out["nextToken"] = token
        return out

    def describe_revision(self, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.get(params["configuration-id"])
        raw = params["configuration-revision"]
        try:
            number = int(raw)
        except ValueError:
            raise bad_request("configuration-revision must be an integer", "configuration-revision") from None
        row = self._db.revision(doc["id"], number)
        if row is None:
            raise not_found(f"Configuration {doc['id']} has no revision {number}.", "configuration-revision")
        out: dict[str, Any] = {"configurationId": doc["id"], "created": row.created, "data": row.data}
        if row.description is not None:
            out["description"] = row.description
        return out

    def set_tags(self, config_id: str, tags: dict[str, str]) -> None:
        doc = dict(self.docs[config_id], tags=tags)
        self._db.put_configuration(doc)
        self.docs[config_id] = doc
