"""The unchanged ActiveMQ 5.x JMS client against ``ferrymq serve`` over OpenWire.

One JVM per wire-format variant runs every scenario of ``java/Jms.java`` (tight encoding,
then loose encoding without the marshal cache); each test asserts one scenario's JSON lines
for both variants.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import jms_harness  # noqa: E402

from support import BrokerProcess  # noqa: E402

SCENARIOS = [
    "types",
    "topic",
    "temp",
    "durable",
    "selector",
    "transactions",
    "delivery",
    "dlq",
    "groups",
    "exclusive",
    "browser",
    "prefetch",
    "clientack",
    "flow",
    "errors",
]
VARIANTS = {
    "tight": "wireFormat.tightEncodingEnabled=true",
    "loose": "wireFormat.tightEncodingEnabled=false&wireFormat.cacheEnabled=false",
}


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return jms_harness.compile_jms(tmp_path_factory.mktemp("openwire-jms"))


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    b = BrokerProcess(tmp_path_factory.mktemp("ow-broker") / "data", ("openwire", "stomp"))
    b.start()
    yield b
    b.kill()


@pytest.fixture(scope="module")
def results(classes: Path, broker: BrokerProcess) -> dict[str, tuple[dict[tuple[str, str], Any], str]]:
    out = {}
    for name, options in VARIANTS.items():
        url = f"tcp://127.0.0.1:{broker.ports['openwire']}"
        out[name] = jms_harness.run(classes, url, options, name, SCENARIOS)
    return out


@pytest.fixture(params=list(VARIANTS))
def r(request: pytest.FixtureRequest, results: dict[str, Any]) -> Any:
    got, log = results[request.param]

    def get(scenario: str, key: str) -> Any:
        assert (scenario, "error") not in got, f"{scenario} failed: {got[(scenario, 'error')]}\n{log[-4000:]}"
        assert (scenario, key) in got, f"{scenario}/{key} missing\n{log[-4000:]}"
        return got[(scenario, key)]

    return get


def test_message_types_properties_and_compression(r: Any) -> None:
    text = "h\u00e9llo \U0001f600 " + "x" * 300
    for k in ("", "z."):
        assert r("types", k + "text") == text
        assert r("types", k + "color") == "red"
        assert r("types", k + "count") == "Integer:7"
        assert r("types", k + "big") == f"Long:{1 << 40}"
        assert r("types", k + "flag") is True
        assert r("types", k + "pi") == "3.25"
        assert r("types", k + "tiny") == "Byte"
        assert r("types", k + "corr") == "corr-1"
        assert r("types", k + "type") == "greeting"
        assert r("types", k + "priority") == 6
        assert r("types", k + "persistent") is True
        assert r("types", k + "id") is True
        assert r("types", k + "bytes") == "000102ff"
        assert r("types", k + "map") == "widget,42,true"
        assert r("types", k + "stream") == "s,5"
        assert r("types", k + "object") == "serialized"
        assert r("types", k + "plain") == "ActiveMQMessage"


def test_topic_fan_out(r: Any) -> None:
    assert r("topic", "a") == ["t0", "t1", "t2"]
    assert r("topic", "b") == ["t0", "t1", "t2"]


def test_temporary_destinations_across_connections(r: Any) -> None:
    assert r("temp", "request") == "ping"
    assert r("temp", "reply_to_temp") is True
    assert r("temp", "reply") == "pong"
    assert r("temp", "topic_reply") == "pong-topic"
    assert r("temp", "send_after_delete") == "refused"


def test_durable_subscription(r: Any) -> None:
    assert r("durable", "online") == "online"
    assert r("durable", "offline") == ["offline-1", "offline-2"]
    assert r("durable", "unsubscribe_active") == "refused"
    assert r("durable", "unsubscribed") is True
    assert r("durable", "unsubscribe_again") == "refused"


def test_selectors(r: Any) -> None:
    assert r("selector", "red") == ["red0", "red2"]
    assert r("selector", "n_gt") == ["green3"]
    assert r("selector", "bad_selector") == "InvalidSelectorException"
    assert r("selector", "rest") == ["blue1"]


def test_local_transactions(r: Any) -> None:
    assert r("transactions", "before_commit") is None
    assert r("transactions", "first") == "committed:false"
    assert r("transactions", "again") == "committed:true"
    assert r("transactions", "after_commit") is None
    assert r("transactions", "left") == []


def test_persistence_priority_and_expiration(r: Any) -> None:
    assert r("delivery", "order") == ["p9:9:true", "p6:6:true", "np:4:false", "p3:3:true", "p0:0:true"]


def test_redelivery_policy_ends_in_dlq(r: Any) -> None:
    assert r("dlq", "deliveries") == 3  # first delivery + maximumRedeliveries=2
    # the poison message, and (as ActiveMQ does) the persistent message that expired in "delivery"
    assert sorted(r("dlq", "dlq_bodies")) == ["expires", "poison"]
    assert r("dlq", "dlq_original").endswith(".poison")
    assert r("dlq", "dlq_cause") is True
    assert r("dlq", "queue_left") == []


def test_message_groups(r: Any) -> None:
    a, b = r("groups", "a"), r("groups", "b")
    assert sorted(a + b) == sorted(f"{'A' if i % 2 == 0 else 'B'}{i}" for i in range(8))
    assert {m[0] for m in a} in ({"A"}, {"B"}) and {m[0] for m in b} in ({"A"}, {"B"}, set())


def test_exclusive_consumer(r: Any) -> None:
    assert (r("exclusive", "a"), r("exclusive", "b")) == (4, 0)


def test_queue_browser(r: Any) -> None:
    assert r("browser", "browsed") == ["b0", "b1", "b2"]
    assert r("browser", "browsed_selector") == ["b1", "b2"]
    assert r("browser", "consumed") == ["b0", "b1", "b2"]


def test_prefetch_zero_and_small_prefetch(r: Any) -> None:
    assert r("prefetch", "empty_nowait") is None
    assert r("prefetch", "empty_timeout") is None
    assert r("prefetch", "waited") is True
    assert r("prefetch", "first") == "m0"
    assert r("prefetch", "other") == "m1"
    assert r("prefetch", "nowait") == "m2"
    # the slow consumer holds its prefetch of 2 plus one: its delivered ack widened the window
    assert r("prefetch", "fast_count") == 7


def test_client_and_individual_acknowledge(r: Any) -> None:
    assert r("clientack", "third") == "c2"
    # c3 was only prefetched: ActiveMQ would not flag it; ferrymq counts every unacknowledged dispatch
    assert r("clientack", "redelivered") in (["c2:true", "c3:false"], ["c2:true", "c3:true"])
    assert r("clientack", "individual_left") == ["i0", "i2"]


def test_producer_flow_control_with_producer_acks(r: Any) -> None:
    assert r("flow", "sent") == 200
    assert r("flow", "received") == 200


def test_errors_reach_the_client_and_the_broker_carries_on(r: Any) -> None:
    assert r("errors", "bad_password") == "JMSSecurityException"
    assert r("errors", "duplicate_client_id") == "InvalidClientIDException"
    assert r("errors", "after") == "still here"
