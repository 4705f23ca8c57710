"""The ActiveMQ XML sanitizer and its translation into broker config sections."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrymq.config.activemq_xml import DEFAULT_XML, XmlConfigError, default_data, sanitize, translate
from ferrymq.config.schema import parse_config

NS = "http://activemq.apache.org/schema/core"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


FULL = f"""<broker xmlns="{NS}" schedulerSupport="true" brokerName="b" useJmx="true" persistent="${{p}}">
  <destinationPolicy><policyMap><policyEntries>
    <policyEntry queue="orders.>" queuePrefetch="7" producerFlowControl="false" memoryLimit="16mb"
                 expireMessagesPeriod="30000" queuePrefetchX="1">
      <deadLetterStrategy>
        <individualDeadLetterStrategy queuePrefix="DLQ.orders." processExpired="false" expiration="60000"/>
      </deadLetterStrategy>
      <pendingMessageLimitStrategy><constantPendingMessageLimitStrategy limit="1000"/></pendingMessageLimitStrategy>
    </policyEntry>
    <policyEntry topic=">" topicPrefetch="abc">
      <deadLetterStrategy><sharedDeadLetterStrategy processNonPersistent="true"/></deadLetterStrategy>
    </policyEntry>
  </policyEntries></policyMap></destinationPolicy>
  <plugins>
    <authorizationPlugin><map><authorizationMap><authorizationEntries>
      <authorizationEntry queue="orders.>" read="consumers,admins" write="producers" admin="admins"/>
      <authorizationEntry topic="ActiveMQ.Advisory.>" read="everyone" write="everyone" admin="everyone"/>
    </authorizationEntries>
    <tempDestinationAuthorizationEntry><tempDestinationAuthorizationEntry read="tmp" write="tmp" admin="tmp"/></tempDestinationAuthorizationEntry>
    </authorizationMap></map></authorizationPlugin>
    <redeliveryPlugin><redeliveryPolicyMap><redeliveryPolicyMap><redeliveryPolicyEntries>
      <redeliveryPolicy queue="orders.>" maximumRedeliveries="3" initialRedeliveryDelay="500" useExponentialBackOff="true"/>
    </redeliveryPolicyEntries></redeliveryPolicyMap></redeliveryPolicyMap></redeliveryPlugin>
    <loggingBrokerPlugin/>
  </plugins>
  <destinations><queue physicalName="orders.in"/><topic physicalName="prices"/></destinations>
  <persistenceAdapter><kahaDB directory="/tmp/x"/></persistenceAdapter>
  <bean xmlns="http://www.springframework.org/schema/beans" class="evil"/>
</broker>"""


def test_sanitize_reports_every_removal_with_amazon_mq_reasons() -> None:
    out = sanitize(b64(FULL))
    got = {(w["reason"], w["elementName"], w.get("attributeName")) for w in out.warnings}
    assert got == {
        ("DISALLOWED_ATTRIBUTE_REMOVED", "broker", "brokerName"),
        ("DISALLOWED_ATTRIBUTE_REMOVED", "broker", "useJmx"),
        ("INVALID_ATTRIBUTE_VALUE_REMOVED", "broker", "persistent"),
        ("DISALLOWED_ATTRIBUTE_REMOVED", "policyEntry", "queuePrefetchX"),
        ("INVALID_ATTRIBUTE_VALUE_REMOVED", "policyEntry", "topicPrefetch"),
        ("DISALLOWED_ELEMENT_REMOVED", "loggingBrokerPlugin", None),
        ("DISALLOWED_ELEMENT_REMOVED", "bean", None),
    }
    assert "evil" not in out.xml and "useJmx" not in out.xml and "schedulerSupport" in out.xml


def test_translation_matches_the_broker_config_schema() -> None:
    sections = translate(sanitize(b64(FULL)).xml)
    orders = next(p for p in sections["policies"] if p.get("queue") == "orders.>")
    assert orders["queue_prefetch"] == 7 and orders["producer_flow_control"] is False
    assert orders["memory_limit"] == 16 * 1024 * 1024 and orders["expire_messages_period"] == 30.0
    assert orders["pending_message_limit"] == 1000
    assert orders["dead_letter"] == {
        "strategy": "individual",
        "queue_prefix": "DLQ.orders.",
        "process_expired": False,
        "expiration_ms": 60000,
    }
    assert orders["max_redeliveries"] == 3 and orders["use_exponential_backoff"] is True
    topics = next(p for p in sections["policies"] if p.get("topic") == ">")
    assert topics["dead_letter"] == {"strategy": "shared", "process_non_persistent": True}
    assert {
        "queue": "orders.>",
        "read": ["consumers", "admins"],
        "write": ["producers"],
        "admin": ["admins"],
    } in sections["authorization"]
    assert {"temp": True, "read": ["tmp"], "write": ["tmp"], "admin": ["tmp"]} in sections["authorization"]
    assert sections["destinations"] == ["queue://orders.in", "topic://prices"]
    cfg = parse_config({"BrokerName": "x", **sections})
    assert cfg.policies[0].queue == "orders.>"


def test_default_configuration_is_clean() -> None:
    out = sanitize(default_data())
    assert out.warnings == []
    assert translate(out.xml)["policies"]
    assert DEFAULT_XML.lstrip().startswith("<?xml")


@pytest.mark.parametrize(
    "data",
    [
        "###",
        b64(""),
        b64("<broker"),
        b64("<broker/>"),
        b64(f'<beans xmlns="{NS}"/>'),
        b64(f'<!DOCTYPE b [<!ENTITY x "y">]><broker xmlns="{NS}">&x;</broker>'),
    ],
)
def test_refused_inputs(data: str) -> None:
    with pytest.raises(XmlConfigError):
        sanitize(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_any_bytes_sanitize_or_refuse(raw: bytes) -> None:
    try:
        out = sanitize(base64.b64encode(raw).decode())
    except XmlConfigError:
        return
    translate(out.xml)
