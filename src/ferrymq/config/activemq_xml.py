"""ActiveMQ XML configurations: decode, check, sanitize and translate.

A configuration revision is the base64 of an activemq.xml ``<broker>`` document in the
ActiveMQ core namespace. Like Amazon MQ, ferrymq keeps only the elements and attributes
it permits and reports each removal as a warning:

- ``DISALLOWED_ELEMENT_REMOVED`` (elementName) for elements outside the permitted set or
  outside the ActiveMQ namespace (Spring beans, ``<bean>``, ``<import>`` ...);
- ``DISALLOWED_ATTRIBUTE_REMOVED`` (elementName, attributeName) for attributes not
  permitted on an element ferrymq knows the attributes of;
- ``INVALID_ATTRIBUTE_VALUE_REMOVED`` for values that are not static (``${...}``,
  ``#{...}``) or not of the attribute's type.

What ferrymq applies at reboot is translated into the broker config file's sections:
policy entries (prefetch, redelivery, flow control, memory, expiry, DLQ strategies),
authorization entries and pre-created destinations.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

NS = "http://activemq.apache.org/schema/core"
_Q = "{" + NS + "}"

# Elements Amazon MQ permits (and the collection elements that hold them).
PERMITTED_ELEMENTS = {
    "broker",
    # collections
    "destinationPolicy",
    "policyMap",
    "policyEntries",
    "defaultEntry",
    "plugins",
    "destinations",
    "destinationInterceptors",
    "virtualDestinations",
    "authorizationEntries",
    "map",
    "networkConnectors",
    "transportConnectors",
    "redeliveryPolicyEntries",
    "deadLetterStrategy",
    "pendingMessageLimitStrategy",
    "subscriptionRecoveryPolicy",
    "dispatchPolicy",
    "messageEvictionStrategy",
    "messageGroupMapFactory",
    "slowConsumerStrategy",
    "pendingQueuePolicy",
    "pendingDurableSubscriberPolicy",
    "pendingSubscriberPolicy",
    "forwardTo",
    "deadLetterQueue",
    "tempDestinationAuthorizationEntry",
    "persistenceAdapter",
    "systemUsage",
    "memoryUsage",
    "excludedDestinations",
    "staticallyIncludedDestinations",
    "dynamicallyIncludedDestinations",
    "durableDestinations",
    "defaultRedeliveryPolicy",
    # permitted elements
    "abortSlowAckConsumerStrategy",
    "abortSlowConsumerStrategy",
    "authorizationEntry",
    "authorizationMap",
    "authorizationPlugin",
    "cachedMessageGroupMapFactory",
    "compositeQueue",
    "compositeTopic",
    "constantPendingMessageLimitStrategy",
    "discarding",
    "discardingDLQBrokerPlugin",
    "fileCursor",
    "fileDurableSubscriberCursor",
    "fileQueueCursor",
    "filteredDestination",
    "fixedCountSubscriptionRecoveryPolicy",
    "fixedSizedSubscriptionRecoveryPolicy",
    "forcePersistencyModeBrokerPlugin",
    "individualDeadLetterStrategy",
    "lastImageSubscriptionRecoveryPolicy",
    "messageGroupHashBucketFactory",
    "mirroredQueue",
    "noSubscriptionRecoveryPolicy",
    "oldestMessageEvictionStrategy",
    "oldestMessageWithLowestPriorityEvictionStrategy",
    "policyEntry",
    "prefetchRatePendingMessageLimitStrategy",
    "priorityDispatchPolicy",
    "priorityNetworkDispatchPolicy",
    "queryBasedSubscriptionRecoveryPolicy",
    "queue",
    "redeliveryPlugin",
    "redeliveryPolicy",
    "redeliveryPolicyMap",
    "retainedMessageSubscriptionRecoveryPolicy",
    "roundRobinDispatchPolicy",
    "sharedDeadLetterStrategy",
    "simpleDispatchPolicy",
    "simpleMessageGroupMapFactory",
    "statisticsBrokerPlugin",
    "storeCursor",
    "storeDurableSubscriberCursor",
    "strictOrderDispatchPolicy",
    "tempQueue",
    "tempTopic",
    "timeStampingBrokerPlugin",
    "timedSubscriptionRecoveryPolicy",
    "topic",
    "transportConnector",
    "uniquePropertyMessageEvictionStrategy",
    "virtualDestinationInterceptor",
    "virtualTopic",
    "vmCursor",
    "vmDurableCursor",
    "vmQueueCursor",
    "networkConnector",
    "kahaDB",
}

_BOOL = "bool"
_INT = "int"
_STR = "str"
# Attributes of the elements ferrymq applies (others keep any static attribute).
ATTRIBUTES: dict[str, dict[str, str]] = {
    "broker": {
        "advisorySupport": _BOOL, "allowTempAutoCreationOnSend": _BOOL, "cacheTempDestinations": _BOOL,
        "consumerSystemUsagePortion": _INT, "dedicatedTaskRunner": _BOOL, "deleteAllMessagesOnStartup": _BOOL,
        "enableMessageExpirationOnActiveDurableSubs": _BOOL, "keepDurableSubsActive": _BOOL,
        "maxPurgedDestinationsPerSweep": _INT, "maxSchedulerRepeatAllowed": _INT, "monitorConnectionSplits": _BOOL,
        "networkConnectorStartAsync": _BOOL, "offlineDurableSubscriberTaskSchedule": _INT,
        "offlineDurableSubscriberTimeout": _INT, "persistenceThreadPriority": _INT, "persistent": _BOOL,
        "populateJMSXUserID": _BOOL, "producerSystemUsagePortion": _INT, "rejectDurableConsumers": _BOOL,
        "rollbackOnlyOnAsyncException": _BOOL, "schedulePeriodForDestinationPurge": _INT, "schedulerSupport": _BOOL,
        "splitSystemUsageForProducersConsumers": _BOOL, "taskRunnerPriority": _INT,
        "timeBeforePurgeTempDestinations": _INT, "useAuthenticatedPrincipalForJMSXUserID": _BOOL,
        "useTempMirroredQueues": _BOOL, "useVirtualDestSubs": _BOOL, "useVirtualDestSubsOnCreation": _BOOL,
    },
    "policyEntry": {
        "queue": _STR, "topic": _STR, "tempQueue": _BOOL, "tempTopic": _BOOL, "producerFlowControl": _BOOL,
        "memoryLimit": _STR, "queuePrefetch": _INT, "topicPrefetch": _INT, "durableTopicPrefetch": _INT,
        "queueBrowserPrefetch": _INT, "optimizedDispatch": _BOOL, "prioritizedMessages": _BOOL,
        "gcInactiveDestinations": _BOOL, "inactiveTimoutBeforeGC": _INT, "expireMessagesPeriod": _INT,
        "useCache": _BOOL, "maxPageSize": _INT, "maxBrowsePageSize": _INT, "lazyDispatch": _BOOL,
        "persistJMSRedelivered": _BOOL, "advisoryForConsumed": _BOOL, "advisoryForDelivery": _BOOL,
        "advisoryForDiscardingMessages": _BOOL, "advisoryForFastProducers": _BOOL, "advisoryForSlowConsumers": _BOOL,
        "advisoryWhenFull": _BOOL, "allConsumersExclusiveByDefault": _BOOL, "alwaysRetroactive": _BOOL,
        "blockedProducerWarningInterval": _INT, "consumersBeforeDispatchStarts": _INT, "cursorMemoryHighWaterMark": _INT,
        "enableAudit": _BOOL, "maxAuditDepth": _INT, "maxProducersToAudit": _INT, "minimumMessageSize": _INT,
        "reduceMemoryFootprint": _BOOL, "sendAdvisoryIfNoConsumers": _BOOL, "storeUsageHighWaterMark": _INT,
        "strictOrderDispatch": _BOOL, "timeBeforeDispatchStarts": _INT, "useConsumerPriority": _BOOL,
        "usePrefetchExtension": _BOOL, "messageGroupMapFactoryType": _STR, "includeBodyForAdvisory": _BOOL,
        "gcWithNetworkConsumers": _BOOL, "sendFailIfNoSpace": _BOOL,
    },
    "authorizationEntry": {"queue": _STR, "topic": _STR, "read": _STR, "write": _STR, "admin": _STR},
    "tempDestinationAuthorizationEntry": {"read": _STR, "write": _STR, "admin": _STR},
    "individualDeadLetterStrategy": {
        "queuePrefix": _STR, "topicPrefix": _STR, "queueSuffix": _STR, "topicSuffix": _STR,
        "useQueueForQueueMessages": _BOOL, "useQueueForTopicMessages": _BOOL, "processExpired": _BOOL,
        "processNonPersistent": _BOOL, "expiration": _INT, "enableAudit": _BOOL, "destinationPerDurableSubscriber": _BOOL,
    },
    "sharedDeadLetterStrategy": {
        "processExpired": _BOOL, "processNonPersistent": _BOOL, "expiration": _INT, "enableAudit": _BOOL,
    },
    "discarding": {},
    "queue": {"physicalName": _STR, "name": _STR},
    "topic": {"physicalName": _STR, "name": _STR},
    "redeliveryPolicy": {
        "queue": _STR, "topic": _STR, "maximumRedeliveries": _INT, "initialRedeliveryDelay": _INT,
        "redeliveryDelay": _INT, "maximumRedeliveryDelay": _INT, "backOffMultiplier": _STR,
        "useExponentialBackOff": _BOOL, "useCollisionAvoidance": _BOOL, "collisionAvoidancePercent": _INT,
        "preDispatchCheck": _BOOL,
    },
    "transportConnector": {
        "name": _STR, "updateClusterClients": _BOOL, "rebalanceClusterClients": _BOOL,
        "updateClusterClientsOnRemove": _BOOL,
    },
}  # fmt: skip


class XmlConfigError(ValueError):
    """The data is not base64, not XML, or not a ``<broker>`` document in the ActiveMQ namespace."""


@dataclass
class Sanitized:
    xml: str
    warnings: list[dict[str, str]] = field(default_factory=list)


def decode(data: str) -> bytes:
    try:
        raw = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise XmlConfigError("data is not valid base64") from None
    if not raw.strip():
        raise XmlConfigError("data is empty")
    return raw


def parse(raw: bytes) -> ET.Element:
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise XmlConfigError("document type declarations and entities are not allowed")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise XmlConfigError(f"data is not well-formed XML: {exc}") from None
    if root.tag != _Q + "broker":
        raise XmlConfigError(f'the root element must be <broker xmlns="{NS}">')
    return root


def _local(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _valid_value(kind: str, value: str) -> bool:
    if "${" in value or "#{" in value:
        return False
    if kind == _BOOL:
        return value.strip().lower() in ("true", "false")
    if kind == _INT:
        try:
            int(value.strip())
        except ValueError:
            return False
    return True


def sanitize_element(root: ET.Element) -> list[dict[str, str]]:
    """Remove what is not permitted, in place; return the warnings."""
    warnings: list[dict[str, str]] = []

    def walk(el: ET.Element) -> None:
        _, name = _local(el.tag)
        allowed = ATTRIBUTES.get(name)
        for attr in list(el.attrib):
            ans, aname = _local(attr)
            value = el.attrib[attr]
            if ans is not None or (allowed is not None and aname not in allowed):
                del el.attrib[attr]
                warnings.append(
                    {"reason": "DISALLOWED_ATTRIBUTE_REMOVED", "elementName": name, "attributeName": aname}
                )
            elif not _valid_value(allowed.get(aname, _STR) if allowed is not None else _STR, value):
                del el.attrib[attr]
                warnings.append(
                    {"reason": "INVALID_ATTRIBUTE_VALUE_REMOVED", "elementName": name, "attributeName": aname}
                )
        for child in list(el):
            if not isinstance(child.tag, str):  # comments and processing instructions
                continue
            cns, cname = _local(child.tag)
            if cns != NS or cname not in PERMITTED_ELEMENTS or cname == "broker":
                el.remove(child)
                warnings.append({"reason": "DISALLOWED_ELEMENT_REMOVED", "elementName": cname})
                continue
            walk(child)

    walk(root)
    return warnings


def sanitize(data: str) -> Sanitized:
    """base64 XML in, sanitized XML (text) and warnings out; ``XmlConfigError`` when refused."""
    root = parse(decode(data))
    warnings = sanitize_element(root)
    ET.register_namespace("", NS)
    return Sanitized(ET.tostring(root, encoding="unicode"), warnings)


# ---------------------------------------------------------------------------- translation
def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el.iter(_Q + name)]


def _bool(v: str | None) -> bool | None:
    return None if v is None else v.strip().lower() == "true"


def _int(v: str | None) -> int | None:
    return None if v is None else int(v.strip())


_SIZE_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3, "b": 1}


def _size(v: str | None) -> int | None:
    if v is None:
        return None
    text = v.strip().lower().replace(" ", "")
    for unit, mult in _SIZE_UNITS.items():
        if text.endswith(unit) and text[: -len(unit)].isdigit():
            return int(text[: -len(unit)]) * mult
    return int(text) if text.isdigit() else None


def _dead_letter(entry: ET.Element) -> dict[str, Any] | None:
    holder = entry.find(_Q + "deadLetterStrategy")
    if holder is None:
        return None
    for child in holder:
        _, name = _local(child.tag) if isinstance(child.tag, str) else (None, "")
        a = child.attrib
        out: dict[str, Any]
        if name == "individualDeadLetterStrategy":
            out = {"strategy": "individual"}
            if "queuePrefix" in a:
                out["queue_prefix"] = a["queuePrefix"]
            if "topicPrefix" in a:
                out["topic_prefix"] = a["topicPrefix"]
        elif name == "sharedDeadLetterStrategy":
            out = {"strategy": "shared"}
        elif name == "discarding":
            return {"strategy": "discarding"}
        else:
            continue
        if "processExpired" in a:
            out["process_expired"] = _bool(a["processExpired"])
        if "processNonPersistent" in a:
            out["process_non_persistent"] = _bool(a["processNonPersistent"])
        if "expiration" in a:
            out["expiration_ms"] = max(0, _int(a["expiration"]) or 0)
        return out
    return None


def _policy(entry: ET.Element) -> dict[str, Any] | None:
    a = entry.attrib
    out: dict[str, Any] = {}
    if "queue" in a:
        out["queue"] = a["queue"]
    elif "topic" in a:
        out["topic"] = a["topic"]
    else:
        return None
    mapping = {
        "queuePrefetch": ("queue_prefetch", _int),
        "topicPrefetch": ("topic_prefetch", _int),
        "durableTopicPrefetch": ("durable_topic_prefetch", _int),
        "producerFlowControl": ("producer_flow_control", _bool),
        "memoryLimit": ("memory_limit", _size),
        "sendFailIfNoSpace": ("send_fail_if_no_space", _bool),
    }
    for attr, (key, conv) in mapping.items():
        if attr in a:
            value = conv(a[attr])
            if value is not None:
                out[key] = value
    if "expireMessagesPeriod" in a:
        out["expire_messages_period"] = max(0, _int(a["expireMessagesPeriod"]) or 0) / 1000.0
    limit = entry.find(f"{_Q}pendingMessageLimitStrategy/{_Q}constantPendingMessageLimitStrategy")
    if limit is not None and "limit" in limit.attrib:
        try:
            out["pending_message_limit"] = max(0, int(limit.attrib["limit"]))
        except ValueError:
            pass
    dl = _dead_letter(entry)
    if dl is not None:
        out["dead_letter"] = dl
    return out


def _groups(v: str | None) -> list[str]:
    return [g.strip() for g in (v or "").split(",") if g.strip()]


def translate(xml_text: str) -> dict[str, Any]:
    """The sections of the broker config file that a sanitized configuration sets:
    ``policies``, ``authorization`` and ``destinations``."""
    root = ET.fromstring(xml_text)
    policies: list[dict[str, Any]] = []
    for entry in _children(root, "policyEntry"):
        p = _policy(entry)
        if p is not None:
            policies.append(p)
    redelivery: dict[tuple[str, str], dict[str, Any]] = {}
    for rp in _children(root, "redeliveryPolicy"):
        a = rp.attrib
        target = (
            ("queue", a["queue"])
            if "queue" in a
            else ("topic", a["topic"])
            if "topic" in a
            else ("queue", ">")
        )
        r: dict[str, Any] = {}
        if "maximumRedeliveries" in a:
            r["max_redeliveries"] = max(-1, int(a["maximumRedeliveries"]))
        if "initialRedeliveryDelay" in a:
            r["initial_redelivery_delay_ms"] = max(0, int(a["initialRedeliveryDelay"]))
        if "useExponentialBackOff" in a:
            r["use_exponential_backoff"] = _bool(a["useExponentialBackOff"])
        if "backOffMultiplier" in a:
            try:
                mult = float(a["backOffMultiplier"])
                if mult > 0:
                    r["redelivery_backoff_multiplier"] = mult
            except ValueError:
                pass
        redelivery[target] = r
    for (kind, pattern), r in redelivery.items():
        for p in policies:
            if p.get(kind) == pattern:
                p.update(r)
                break
        else:
            if r:
                policies.append({kind: pattern, **r})
    authorization: list[dict[str, Any]] = []
    for entry in _children(root, "authorizationEntry"):
        a = entry.attrib
        rule: dict[str, Any]
        if "queue" in a:
            rule = {"queue": a["queue"]}
        elif "topic" in a:
            rule = {"topic": a["topic"]}
        else:
            continue
        rule.update(read=_groups(a.get("read")), write=_groups(a.get("write")), admin=_groups(a.get("admin")))
        authorization.append(rule)
    for entry in _children(root, "tempDestinationAuthorizationEntry"):
        a = entry.attrib
        authorization.append(
            {
                "temp": True,
                "read": _groups(a.get("read")),
                "write": _groups(a.get("write")),
                "admin": _groups(a.get("admin")),
            }
        )
    destinations: list[str] = []
    holder = root.find(_Q + "destinations")
    if holder is not None:
        for d in holder:
            if not isinstance(d.tag, str):
                continue
            _, name = _local(d.tag)
            phys = d.attrib.get("physicalName")
            if name in ("queue", "topic") and phys:
                destinations.append(f"{name}://{phys}")
    composites: list[dict[str, Any]] = []
    for kind in ("queue", "topic"):
        for comp in _children(root, "composite" + kind.capitalize()):
            a = comp.attrib
            comp_name = a.get("name")
            if not comp_name:
                continue
            targets: list[dict[str, Any]] = []
            holder = comp.find(_Q + "forwardTo")
            for t in holder if holder is not None else []:
                if not isinstance(t.tag, str):
                    continue
                _, tname = _local(t.tag)
                ta = t.attrib
                if tname in ("queue", "topic") and ta.get("physicalName"):
                    targets.append({tname: ta["physicalName"]})
                elif tname == "filteredDestination" and (ta.get("queue") or ta.get("topic")):
                    tgt: dict[str, Any] = {"queue": ta["queue"]} if ta.get("queue") else {"topic": ta["topic"]}
                    if ta.get("selector"):
                        tgt["selector"] = ta["selector"]
                    targets.append(tgt)
            if targets:
                forward_only = _bool(a.get("forwardOnly"))
                composites.append({kind: comp_name, "forward_only": True if forward_only is None else forward_only,
                                   "forward_to": targets})
    out: dict[str, Any] = {"policies": policies, "authorization": authorization, "destinations": destinations}
    if composites:
        out["composite_destinations"] = composites
    return out


DEFAULT_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<broker xmlns="{NS}" schedulePeriodForDestinationPurge="10000">
  <destinationPolicy>
    <policyMap>
      <policyEntries>
        <policyEntry topic="&gt;" gcInactiveDestinations="true" inactiveTimoutBeforeGC="600000">
          <pendingMessageLimitStrategy>
            <constantPendingMessageLimitStrategy limit="3000"/>
          </pendingMessageLimitStrategy>
        </policyEntry>
        <policyEntry queue="&gt;" gcInactiveDestinations="true" inactiveTimoutBeforeGC="600000"/>
      </policyEntries>
    </policyMap>
  </destinationPolicy>
  <plugins>
  </plugins>
</broker>
"""


def default_data() -> str:
    return base64.b64encode(DEFAULT_XML.encode()).decode()
