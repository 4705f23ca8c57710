"""OpenWire fast paths: the hand-written readers and writers of :mod:`.fastpath` give exactly
what the generic codec gives (same bytes, same objects, same errors), and they are used."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_openwire_codec import LONGS, STRINGS, structures

from ferrymq.protocols.openwire import codec, fastpath, props, shapes, spec
from ferrymq.protocols.openwire.codec import OpenWireCodecError, OpenWireParser, WireFormat

FAST_VERSIONS = [10, 11, 12]


def fast_format(version: int = 12, cache_size: int = 1024, prefix: bool = True) -> WireFormat:
    return WireFormat(
        version=version,
        tight_encoding=True,
        cache_enabled=True,
        cache_size=cache_size,
        size_prefix_disabled=not prefix,
    )


def parsers(wf: WireFormat) -> tuple[OpenWireParser, OpenWireParser]:
    """A parser with the fast paths and one forced onto the generic codec."""
    fast = OpenWireParser(wf, negotiated=True)
    slow = OpenWireParser(wf, negotiated=True)
    slow._fast_read = None
    slow._fast_write = None
    return fast, slow


def fields(obj: Any) -> Any:
    """Every field value, with its type, nested structures included (== compares keys only)."""
    if isinstance(obj, spec.DataStructure):
        return (type(obj).__name__, tuple((n, fields(v)) for n, v in obj.items()))
    if isinstance(obj, list | tuple):
        return tuple(fields(v) for v in obj)
    return (type(obj).__name__, obj)


class Counting:
    """Wraps the registered fast readers to count the frames they decode themselves."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.hits = 0
        self.misses = 0
        for code, read in list(codec.FAST_READERS.items()):
            monkeypatch.setitem(codec.FAST_READERS, code, self._wrap(read))

    def _wrap(self, read: Any) -> Any:
        def counted(*args: Any) -> Any:
            out = read(*args)
            if out is fastpath.FALLBACK:
                self.misses += 1
            else:
                self.hits += 1
            return out

        return counted


PID = spec.ProducerId(connection_id="ID:host-1234-1:1", session_id=1, value=1)
QUEUE = spec.ActiveMQQueue(physical_name="orders")


def jms_message(cls: type[spec.DataStructure] = spec.ActiveMQBytesMessage, seq: int = 1, **kw: Any) -> Any:
    """A message as the JMS client sends it."""
    base: dict[str, Any] = dict(
        command_id=seq + 3,
        producer_id=PID,
        destination=QUEUE,
        message_id=spec.MessageId(producer_id=PID, producer_sequence_id=seq),
        persistent=True,
        priority=4,
        timestamp=1_764_000_000_000 + seq,
        content=props.encode_bytes_body(b"x" * 256),
        response_required=True,
    )
    base.update(kw)
    return cls(**base)


MESSAGE_NAMES = [c.__name__ for c in fastpath.MESSAGE_CLASSES]


# -- encoding: byte for byte what the generic writer gives ---------------------------------------


@pytest.mark.parametrize("name", MESSAGE_NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_message_writer_matches_generic(name: str, data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(FAST_VERSIONS))
    wf = fast_format(version, cache_size=data.draw(st.sampled_from([1024, 150])))
    msgs = data.draw(st.lists(structures(name, version, False), min_size=1, max_size=4))
    msgs += [msgs[0], jms_message(spec.CLASSES[name])]  # a repeat: cache hits
    fast, slow = parsers(wf)
    assert fast.fast_write and not slow.fast_write
    for m in msgs:
        assert fast.encode(m) == slow.encode(m)


@pytest.mark.parametrize("name", MESSAGE_NAMES)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dispatch_writer_matches_generic(name: str, data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(FAST_VERSIONS))
    wf = fast_format(version)
    fast, slow = parsers(wf)
    consumers = [spec.ConsumerId(connection_id="ID:c", session_id=1, value=v) for v in (1, 2)]
    for _ in range(data.draw(st.integers(1, 4))):
        m = (
            data.draw(structures(name, version, False))
            if data.draw(st.booleans())
            else jms_message(spec.CLASSES[name])
        )
        cid = data.draw(st.sampled_from(consumers))
        dest = data.draw(st.sampled_from([QUEUE, spec.ActiveMQTopic(physical_name="t.1"), m.destination]))
        user = data.draw(STRINGS)
        count = data.draw(st.integers(0, 2**31 - 1))
        in_time = data.draw(LONGS)
        # what the broker dispatches: the message with its per-delivery fields replaced
        sent = spec.CLASSES[name](**dict(m.items()))
        sent.command_id = 0
        sent.response_required = False
        sent.transaction_id = None
        sent.destination = dest
        sent.user_id = user
        sent.redelivery_counter = count
        sent.broker_in_time = in_time
        dispatch = spec.MessageDispatch(
            consumer_id=cid, destination=dest, message=sent, redelivery_counter=count
        )
        expect = slow.encode(dispatch)
        assert fastpath.dispatch_frame(fast, cid, m, count, dest, user, in_time) == expect
        # the same through encode() (a MessageDispatch object), with a fresh pair
        f2, s2 = parsers(wf)
        assert f2.encode(dispatch) == s2.encode(dispatch)


@settings(max_examples=50, deadline=None)
@given(corr=st.integers(-(2**31), 2**31 - 1), cmd=st.integers(-(2**31), 2**31 - 1), rr=st.booleans())
def test_response_writer_matches_generic(corr: int, cmd: int, rr: bool) -> None:
    for prefix in (True, False):
        fast, slow = parsers(fast_format(prefix=prefix))
        r = spec.Response(command_id=cmd, correlation_id=corr, response_required=rr)
        assert fast.encode(r) == slow.encode(r)


def test_fast_writers_only_for_tight_cached_recent_formats() -> None:
    assert OpenWireParser(fast_format(10), negotiated=True).fast_write
    assert not OpenWireParser(fast_format(9), negotiated=True).fast_write
    assert not OpenWireParser(
        WireFormat(version=12, tight_encoding=False, cache_enabled=True), negotiated=True
    ).fast_write
    assert not OpenWireParser(
        WireFormat(version=12, tight_encoding=True, cache_enabled=False), negotiated=True
    ).fast_write
    assert not OpenWireParser().fast_write  # before negotiation


def test_encode_errors_match_generic() -> None:
    for bad in (dict(priority=300), dict(group_sequence=2**40), dict(expiration=2**70), dict(type=123)):
        fast, slow = parsers(fast_format())
        m = jms_message(**bad)
        with pytest.raises(OpenWireCodecError) as fe:
            fast.encode(m)
        with pytest.raises(OpenWireCodecError) as se:
            slow.encode(m)
        assert not fe.value.fatal and not se.value.fatal


def test_frame_size_limit_applies_to_fast_writer() -> None:
    wf = WireFormat(version=12, tight_encoding=True, cache_enabled=True, max_frame_size=300)
    fast, slow = parsers(wf)
    m = jms_message(content=b"y" * 400)
    for p in (fast, slow):
        with pytest.raises(OpenWireCodecError):
            p.encode(m)


# -- decoding: the same objects as the generic reader ------------------------------------------


@pytest.mark.parametrize("name", [*MESSAGE_NAMES, "MessageAck"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_readers_match_generic(name: str, data: st.DataObject) -> None:
    version = data.draw(st.sampled_from(FAST_VERSIONS))
    wf = fast_format(version, cache_size=data.draw(st.sampled_from([1024, 150])))
    objs = data.draw(st.lists(structures(name, version, False), min_size=1, max_size=4))
    objs.append(objs[0])
    if name != "MessageAck":
        objs.append(jms_message(spec.CLASSES[name]))
    encoder, _ = parsers(wf)
    stream = b"".join(encoder.encode(o) for o in objs)
    fast, slow = parsers(wf)
    with pytest.MonkeyPatch.context() as mp:
        counting = Counting(mp)
        got = fast.feed(stream)
    assert [fields(o) for o in got] == [fields(o) for o in slow.feed(stream)]
    assert got == objs
    assert counting.hits == len(objs) and counting.misses == 0
    # byte by byte and with trailing bytes
    fast2, _ = parsers(wf)
    one: list[Any] = []
    for i in range(len(stream)):
        one += fast2.feed(stream[i : i + 1])
    assert [fields(o) for o in one] == [fields(o) for o in got]
    fast3, _ = parsers(wf)
    assert fast3.feed(stream + stream[:3]) == objs
    assert fast3.buffered == 3


def test_reader_is_used_for_the_jms_client_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    counting = Counting(monkeypatch)
    encoder, _ = parsers(fast_format())
    msgs = [jms_message(seq=i) for i in range(1, 6)]
    ack = spec.MessageAck(
        destination=QUEUE,
        consumer_id=spec.ConsumerId(connection_id="ID:c", session_id=1, value=1),
        ack_type=spec.STANDARD_ACK_TYPE,
        first_message_id=msgs[-1].message_id,
        last_message_id=msgs[-1].message_id,
        message_count=1,
    )
    stream = b"".join(encoder.encode(o) for o in [*msgs, ack])
    fast, _ = parsers(fast_format())
    assert fast.feed(stream) == [*msgs, ack]
    assert counting.hits == 6


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzz_mutated_frames_same_outcome(data: st.DataObject) -> None:
    """A damaged frame decodes (or fails) exactly as with the generic reader alone."""
    wf = fast_format(data.draw(st.sampled_from(FAST_VERSIONS)))
    encoder, _ = parsers(wf)
    first = encoder.encode(jms_message(seq=1, reply_to=QUEUE, correlation_id="c-é"))
    second = bytearray(encoder.encode(data.draw(st.sampled_from([jms_message(seq=2), _sample_ack()]))))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(4, len(second) - 1))
        second[i] = data.draw(st.integers(0, 255))
    stream = first + bytes(second)
    fast, slow = parsers(wf)
    assert _outcome(fast, stream) == _outcome(slow, stream)


def _sample_ack() -> Any:
    mid = spec.MessageId(producer_id=PID, producer_sequence_id=7, text_view="ID:x:1:1:7")
    return spec.MessageAck(
        destination=QUEUE,
        consumer_id=spec.ConsumerId(connection_id="ID:c", session_id=1, value=1),
        ack_type=spec.INDIVIDUAL_ACK_TYPE,
        first_message_id=mid,
        last_message_id=mid,
        message_count=1,
    )


def _outcome(p: OpenWireParser, stream: bytes) -> tuple[Any, ...]:
    try:
        return ("ok", [fields(c) for c in p.feed(stream)], p.buffered)
    except OpenWireCodecError as exc:
        return ("error", str(exc), [fields(c) for c in exc.commands])


def test_a_fast_read_that_gives_up_leaves_the_cache_as_it_was() -> None:
    """A damaged MessageAck whose fast read stored a value in a cache slot and then gave up:
    the generic reader must see the cache as it was before the frame (found by the fuzz test
    below: the generic reader then read the consumer id the fast read had left behind)."""
    wf = fast_format(10)
    encoder, _ = parsers(wf)
    first = encoder.encode(jms_message(seq=1, reply_to=QUEUE, correlation_id="c-é"))
    second = bytearray(encoder.encode(_sample_ack()))
    second[32] = 0
    second[19] = 1
    stream = first + bytes(second)
    fast, slow = parsers(wf)
    assert _outcome(fast, stream) == _outcome(slow, stream)


def test_feed_keeps_an_incomplete_frame() -> None:
    encoder, _ = parsers(fast_format())
    frame = encoder.encode(jms_message(content=b"z" * 5000))
    fast, _ = parsers(fast_format())
    cut = len(frame) - 7
    for i in range(0, cut, 100):
        assert fast.feed(frame[i : min(i + 100, cut)]) == []
        assert fast.buffered == min(i + 100, cut)
    assert fast.feed(frame[cut:] + frame[:2]) == [jms_message(content=b"z" * 5000)]
    assert fast.buffered == 2


@settings(max_examples=60, deadline=None)
@given(
    seqs=st.lists(st.tuples(LONGS, LONGS, st.booleans()), min_size=1, max_size=6),
    version=st.sampled_from(FAST_VERSIONS),
)
def test_ack_ids_with_the_same_bytes_are_one_object(seqs: list[Any], version: int) -> None:
    """A MessageAck whose first and last ids have the same layout is compiled to build the
    last one only when its bytes differ from the first's; the values are the generic reader's."""
    shapes._SHAPES.clear()
    shapes._budget[1] = -1000
    wf = fast_format(version)
    cid = spec.ConsumerId(connection_id="ID:c", session_id=1, value=1)
    acks = []
    for a, b, same in seqs:
        first = spec.MessageId(producer_id=PID, producer_sequence_id=a)
        last = spec.MessageId(producer_id=PID, producer_sequence_id=a if same else b)
        acks.append(
            spec.MessageAck(
                destination=QUEUE,
                consumer_id=cid,
                ack_type=spec.STANDARD_ACK_TYPE,
                first_message_id=first,
                last_message_id=last,
                message_count=1,
            )
        )
    acks = [acks[0], *acks]  # the first one again: all cache hits (a compiled shape)
    encoder, _ = parsers(wf)
    stream = b"".join(encoder.encode(o) for o in acks)
    fast, slow = parsers(wf)
    got = fast.feed(stream)
    assert [fields(o) for o in got] == [fields(o) for o in slow.feed(stream)]
    assert got == acks
    for o in got[1:]:
        assert (o.first_message_id is o.last_message_id) == (o.first_message_id == o.last_message_id)


def test_cache_eviction_same_bytes_and_values() -> None:
    """Many producers through a small cache: slots are evicted and reused the same way."""
    wf = fast_format(cache_size=110)  # 10 usable slots before eviction
    fast, slow = parsers(wf)
    dec_fast, dec_slow = parsers(wf)
    msgs = []
    for i in range(40):
        pid = spec.ProducerId(connection_id=f"ID:p-{i % 17}", session_id=1, value=i % 5)
        msgs.append(
            jms_message(
                seq=i,
                producer_id=pid,
                message_id=spec.MessageId(producer_id=pid, producer_sequence_id=i),
                destination=spec.ActiveMQQueue(physical_name=f"q.{i % 13}"),
            )
        )
    frames = []
    for m in msgs:
        frame = fast.encode(m)
        assert frame == slow.encode(m)
        frames.append(frame)
    stream = b"".join(frames)
    assert [fields(c) for c in dec_fast.feed(stream)] == [fields(c) for c in dec_slow.feed(stream)]


@pytest.mark.parametrize("name", MESSAGE_NAMES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_dispatch_of_decoded_messages_matches_generic(name: str, data: st.DataObject) -> None:
    """Messages read by the shape-compiled readers are dispatched by the writer compiled for
    their layout: the same bytes as the generic writer for the equivalent MessageDispatch."""
    version = data.draw(st.sampled_from(FAST_VERSIONS))
    wf = fast_format(version)
    cls = spec.CLASSES[name]
    shapes._SHAPES.clear()
    shapes._budget[1] = -1000  # compile every shape of this example
    sent = data.draw(st.lists(structures(name, version, False), max_size=2))
    sent += [jms_message(cls, seq=i, **data.draw(EXTRAS)) for i in range(1, 5)]
    client, _ = parsers(wf)
    broker_in, _ = parsers(wf)
    decoded = broker_in.feed(b"".join(client.encode(m) for m in sent))
    assert any(getattr(m, "_wshape", None) is not None for m in decoded)
    fast, slow = parsers(wf)
    cid = spec.ConsumerId(connection_id="ID:c", session_id=1, value=1)
    for m in decoded:
        dest = data.draw(st.sampled_from([QUEUE, spec.ActiveMQTopic(physical_name="t.1"), m.destination]))
        user = data.draw(st.sampled_from([None, "bench", m.user_id, "é"]))
        count = data.draw(st.sampled_from([0, 1, 70000]))
        in_time = data.draw(st.sampled_from([0, 5, 1_764_000_000_123, -1]))
        out = cls(**dict(m.items()))
        out.command_id, out.response_required, out.transaction_id = 0, False, None
        out.destination, out.user_id, out.redelivery_counter, out.broker_in_time = dest, user, count, in_time
        expect = slow.encode(
            spec.MessageDispatch(consumer_id=cid, destination=dest, message=out, redelivery_counter=count)
        )
        assert fastpath.dispatch_frame(fast, cid, m, count, dest, user, in_time) == expect


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_shared_dispatch_frames_match_generic(data: st.DataObject) -> None:
    """Dispatches of the same messages to several connections (each cache filled its own way,
    small caches evicting) through the per-message memo: every frame is what that connection's
    generic writer gives for the MessageDispatch."""
    version = data.draw(st.sampled_from(FAST_VERSIONS))
    name = data.draw(st.sampled_from(MESSAGE_NAMES))
    cls = spec.CLASSES[name]
    shapes._SHAPES.clear()
    shapes._budget[1] = -1000
    sent = data.draw(st.lists(structures(name, version, False), max_size=2))
    sent += [jms_message(cls, seq=i) for i in range(1, 4)]
    client, _ = parsers(fast_format(version))
    broker_in, _ = parsers(fast_format(version))
    messages = broker_in.feed(b"".join(client.encode(m) for m in sent))
    conns = []
    for _ in range(data.draw(st.integers(2, 4))):
        wf = fast_format(version, cache_size=data.draw(st.sampled_from([1024, 103, 105])))
        fast, slow = parsers(wf)
        for i in data.draw(st.lists(st.integers(0, 30), max_size=6)):  # warm the cache its own way
            filler = spec.MessageAck(consumer_id=spec.ConsumerId(connection_id="ID:w", value=i))
            assert fast.encode(filler) == slow.encode(filler)
        conns.append((fast, slow))
    memos: list[dict[Any, Any]] = [{} for _ in messages]
    consumers = [spec.ConsumerId(connection_id="ID:c", session_id=1, value=v) for v in (1, 2)]
    for _ in range(data.draw(st.integers(1, 12))):
        fast, slow = conns[data.draw(st.integers(0, len(conns) - 1))]
        if data.draw(st.booleans()):  # the cache changes between two dispatches
            filler = spec.MessageAck(
                consumer_id=data.draw(
                    st.sampled_from(consumers)
                    | st.builds(spec.ConsumerId, connection_id=st.just("ID:v"), value=st.integers(0, 9))
                ),
                destination=data.draw(st.sampled_from([None, QUEUE])),
            )
            assert fast.encode(filler) == slow.encode(filler)
        i = data.draw(st.integers(0, len(messages) - 1))
        m = messages[i]
        cid = data.draw(st.sampled_from(consumers))
        dest = data.draw(st.sampled_from([QUEUE, spec.ActiveMQTopic(physical_name="t.1"), m.destination]))
        user = data.draw(st.sampled_from([None, "bench"]))
        count = data.draw(st.sampled_from([0, 1]))
        in_time = data.draw(st.sampled_from([0, 1_764_000_000_123]))
        out = cls(**dict(m.items()))
        out.command_id, out.response_required, out.transaction_id = 0, False, None
        out.destination, out.user_id, out.redelivery_counter, out.broker_in_time = dest, user, count, in_time
        expect = slow.encode(
            spec.MessageDispatch(consumer_id=cid, destination=dest, message=out, redelivery_counter=count)
        )
        got = fastpath.shared_dispatch_frame(fast, memos[i], cid, m, count, dest, user, in_time)
        assert got == expect


def test_shared_dispatch_frame_after_the_cache_moved_a_value() -> None:
    """A value evicted and cached again in another slot between two dispatches of one message
    on one connection: the second frame names the new slot."""
    m = jms_message(spec.ActiveMQBytesMessage)
    cid = spec.ConsumerId(connection_id="ID:c", session_id=1, value=1)
    fast, slow = parsers(fast_format(cache_size=105))  # 5 entries kept
    memo: dict[Any, Any] = {}

    def dispatch() -> None:
        out = spec.ActiveMQBytesMessage(**dict(m.items()))
        out.command_id, out.response_required, out.broker_in_time = 0, False, 5
        expect = slow.encode(spec.MessageDispatch(consumer_id=cid, destination=QUEUE, message=out))
        assert fastpath.shared_dispatch_frame(fast, memo, cid, m, 0, QUEUE, None, 5) == expect

    def ack(consumer: Any) -> None:
        c = spec.MessageAck(consumer_id=consumer)
        assert fast.encode(c) == slow.encode(c)

    out = spec.ActiveMQBytesMessage(**dict(m.items()))
    out.command_id, out.response_required, out.broker_in_time = 0, False, 5
    warm = spec.MessageDispatch(consumer_id=cid, destination=QUEUE, message=out)
    assert fastpath.dispatch_frame(fast, cid, m, 0, QUEUE, None, 5) == slow.encode(warm)
    dispatch()  # all cache hits
    for i in range(6):  # evicts the consumer id ...
        ack(spec.ConsumerId(connection_id="ID:v", value=i))
    # ... and caches it again elsewhere, with the destination and the producer id
    c = spec.MessageAck(consumer_id=cid, destination=QUEUE, last_message_id=m.message_id)
    assert fast.encode(c) == slow.encode(c)
    dispatch()


def test_shared_dispatch_frame_is_reused_across_connections() -> None:
    m = jms_message(spec.ActiveMQBytesMessage)
    cid = spec.ConsumerId(connection_id="ID:c", session_id=1, value=1)
    memo: dict[Any, Any] = {}
    frames = []
    for _ in range(3):
        fast, _ = parsers(fast_format())
        fastpath.dispatch_frame(fast, cid, m, 0, QUEUE, None, 5)  # the cache now holds every value
        frames.append(fastpath.shared_dispatch_frame(fast, memo, cid, m, 0, QUEUE, None, 5))
    assert frames[0] == frames[1] == frames[2]
    assert frames[1] is frames[0] and frames[2] is frames[0]


EXTRAS = st.fixed_dictionaries(
    {},
    optional={
        "text_view": st.none(),
        "correlation_id": STRINGS,
        "type": STRINGS,
        "expiration": LONGS,
        "timestamp": LONGS,
        "user_id": STRINGS,
        "marshalled_properties": st.none() | st.just(props.encode_map({"k": 1})),
        "persistent": st.booleans(),
        "priority": st.integers(0, 9),
    },
).map(lambda d: {k: v for k, v in d.items() if k != "text_view"})


def test_non_canonical_long_falls_back_to_the_general_writer() -> None:
    """A producer that sends a small long in 8 bytes: the dispatch still has the canonical form."""
    wf = fast_format()
    client, _ = parsers(wf)
    m = jms_message(timestamp=1_764_000_000_000)
    client.encode(m)  # cache entries
    frame = bytearray(client.encode(m))
    broker_in, _ = parsers(wf)
    broker_in.feed(bytes(client.encode(m))[:0])
    fast, slow = parsers(wf)
    (d,) = OpenWireParser(wf, negotiated=True).feed(OpenWireParser(wf, negotiated=True).encode(m))
    cid = spec.ConsumerId(connection_id="ID:c", session_id=1, value=1)
    d.timestamp = 7  # not what the layout said (8 bytes): the shape writer must refuse it
    out = spec.ActiveMQBytesMessage(**dict(d.items()))
    out.command_id, out.response_required = 0, False
    expect = slow.encode(spec.MessageDispatch(consumer_id=cid, destination=QUEUE, message=out))
    assert fastpath.dispatch_frame(fast, cid, d, 0, QUEUE, None, 0) == expect
    assert frame  # the client stream itself is untouched
