"""The MessageStore contract, run against every backend in conftest.BACKENDS."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrymq.core.completion import Completion
from ferrymq.core.errors import StoreFailure
from ferrymq.core.message import BODY_KINDS, Message
from ferrymq.core.names import KINDS, DestinationName, queue, topic
from ferrymq.core.ports import (
    AddMessage,
    AddRef,
    DropKey,
    PutMeta,
    Recovery,
    RemoveRef,
    SetDeliveryCount,
)
from ferrymq.store import batcher as batcher_module
from ferrymq.store.codec import (
    EncryptionKeyError,
    RecordCipher,
    RecordError,
    decode_message,
    encode_message,
    load_or_create_data_key,
)
from ferrymq.store.keys import durable_key, queue_key


class Backend(Protocol):
    """What conftest's backend fixtures provide."""

    name: str
    store_dir: Path
    db_path: Path

    def make(self, *, cipher: RecordCipher | None = None) -> Any: ...

    def committed_message_ids(self) -> set[str]: ...

    def committed_refs(self) -> list[tuple[str, str, int]]: ...

    def raw_bytes(self) -> bytes: ...


def run(coro_fn: Callable[[], Coroutine[Any, Any, Any]], timeout: float = 20.0) -> Any:
    """Run on uvloop, the broker's event loop."""

    async def main() -> Any:
        return await asyncio.wait_for(coro_fn(), timeout)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def wait(c: Completion) -> asyncio.Future[Any]:
    """An awaitable for a Completion (tests only; the core never awaits)."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def done(c: Completion) -> None:
        if fut.done():
            return
        if c.ok:
            fut.set_result(c.result)
        else:
            fut.set_exception(c.error)  # type: ignore[arg-type]

    c.add_callback(done)
    return fut


Q1 = queue_key("orders")
Q2 = queue_key("invoices")
D1 = durable_key("client-1", "sub-a")

PERSISTED_SLOTS = [
    s for s in Message.__slots__ if s not in ("encode_cache", "size", "producer_key", "broker_in_time")
]


def msg(body: Any = b"payload", **kw: Any) -> Message:
    return Message(queue("orders"), body, persistent=True, **kw)


def same_message(a: Message, b: Message) -> None:
    for slot in PERSISTED_SLOTS:
        assert getattr(a, slot) == getattr(b, slot), slot


async def reopen(backend: Backend, store: Any, **kw: Any) -> tuple[Any, Recovery]:
    await store.close()
    store2 = backend.make(**kw)
    return store2, await store2.open()


def ids(rec: Recovery, key: str) -> list[str]:
    return [r.message.message_id for r in rec.refs.get(key, [])]


# ---------------------------------------------------------------------------- ops
def test_round_trip_of_every_op(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        rec = await store.open()
        assert rec.refs == {} and rec.meta == {}
        m = msg(
            {"a": 1, "b": [1, "x", None]},
            body_kind="map",
            properties={"s": "v", "i": -5, "f": 2.5, "t": True, "n": None, "b": b"\x00\xff"},
            priority=7,
            expiration=1_900_000_000_000,
            correlation_id="corr",
            reply_to=topic("replies"),
            type="order",
            group_id="g",
            group_seq=3,
            content_type="application/json",
            user_id="alice",
            origin="stomp",
            native={"stomp": {"x-custom": "1"}},
        )
        await wait(store.submit([AddMessage(m), AddRef(Q1, m.message_id, 2), AddRef(D1, m.message_id)]))
        await wait(store.submit([SetDeliveryCount(D1, m.message_id, 5)]))
        await wait(store.submit([PutMeta("durable", "client-1:sub-a", b"spec"), PutMeta("mqtt", "c", b"s")]))
        store, rec = await reopen(backend, store)
        assert set(rec.refs) == {Q1, D1}
        (r1,) = rec.refs[Q1]
        (r2,) = rec.refs[D1]
        same_message(r1.message, m)
        assert r1.message is r2.message  # stored once, shared on recovery
        assert (r1.delivery_count, r2.delivery_count) == (2, 5)
        assert rec.meta == {"durable": {"client-1:sub-a": b"spec"}, "mqtt": {"c": b"s"}}
        await wait(store.submit([RemoveRef(Q1, m.message_id), DropKey(D1), PutMeta("mqtt", "c", None)]))
        store, rec = await reopen(backend, store)
        assert rec.refs == {}
        assert rec.meta == {"durable": {"client-1:sub-a": b"spec"}}
        assert backend.committed_message_ids() == set()
        await store.close()

    run(body)


def test_refs_keep_insertion_order(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        ms = [msg(b"%d" % i) for i in range(30)]
        # spread over several batches, interleaved with another key
        for i in range(0, 30, 7):
            for m in ms[i : i + 7]:
                store.submit([AddMessage(m), AddRef(Q1, m.message_id), AddRef(Q2, m.message_id)])
            await asyncio.sleep(0)
        last = Completion()
        for m in ms[::3]:
            last = store.submit([RemoveRef(Q1, m.message_id)])
        # re-adding an existing ref keeps its place and updates its count
        last = store.submit([AddRef(Q2, ms[0].message_id, 9)])
        await wait(last)
        store, rec = await reopen(backend, store)
        assert ids(rec, Q1) == [m.message_id for i, m in enumerate(ms) if i % 3]
        assert ids(rec, Q2) == [m.message_id for m in ms]
        assert rec.refs[Q2][0].delivery_count == 9
        await store.close()

    run(body)


def test_message_deleted_with_its_last_ref(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        m = msg()
        await wait(store.submit([AddMessage(m), AddRef(Q1, m.message_id), AddRef(Q2, m.message_id)]))
        await wait(store.submit([RemoveRef(Q1, m.message_id)]))
        assert backend.committed_message_ids() == {m.message_id}
        await wait(store.submit([RemoveRef(Q1, m.message_id)]))  # twice: harmless
        assert backend.committed_message_ids() == {m.message_id}
        await wait(store.submit([RemoveRef(Q2, m.message_id)]))
        assert backend.committed_message_ids() == set()
        assert backend.committed_refs() == []
        await store.close()

    run(body)


def test_drop_key_removes_refs_and_unshared_messages(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        shared, only = msg(b"shared"), msg(b"only")
        await wait(
            store.submit(
                [
                    AddMessage(shared),
                    AddMessage(only),
                    AddRef(Q1, shared.message_id),
                    AddRef(Q1, only.message_id),
                    AddRef(D1, shared.message_id),
                ]
            )
        )
        await wait(store.submit([DropKey(Q1)]))
        assert backend.committed_message_ids() == {shared.message_id}
        store, rec = await reopen(backend, store)
        assert list(rec.refs) == [D1]
        assert ids(rec, D1) == [shared.message_id]
        await store.close()

    run(body)


def test_meta_put_replace_delete(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        store.submit([PutMeta("ns", "k1", b"v1"), PutMeta("ns", "k2", b"v2")])
        store.submit([PutMeta("ns", "k1", b"v1b")])
        await wait(store.submit([PutMeta("ns", "k2", None), PutMeta("other", "k", b"")]))
        store, rec = await reopen(backend, store)
        assert rec.meta == {"ns": {"k1": b"v1b"}, "other": {"k": b""}}
        await store.close()

    run(body)


def test_unreferenced_messages_are_collected_at_open(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        orphan, kept = msg(b"orphan"), msg(b"kept")
        await wait(store.submit([AddMessage(orphan), AddMessage(kept), AddRef(Q1, kept.message_id)]))
        assert backend.committed_message_ids() == {orphan.message_id, kept.message_id}
        store, rec = await reopen(backend, store)
        assert backend.committed_message_ids() == {kept.message_id}
        assert ids(rec, Q1) == [kept.message_id]
        await store.close()

    run(body)


# ---------------------------------------------------------------------------- batching
def test_completions_resolve_after_commit_and_in_order(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        order: list[int] = []
        seen_committed: list[bool] = []
        last = Completion()
        for tick in range(5):
            for i in range(10):
                n = tick * 10 + i
                m = msg(b"%d" % n)
                c = store.submit([AddMessage(m), AddRef(Q1, m.message_id)])
                assert not c.is_done

                def cb(c: Completion, n: int = n, mid: str = m.message_id) -> None:
                    order.append(n)
                    seen_committed.append(mid in backend.committed_message_ids())

                c.add_callback(cb)
                last = c
            await asyncio.sleep(0)
        await wait(last)
        assert order == list(range(50))
        assert all(seen_committed)
        await store.close()

    run(body)


def test_submits_of_one_tick_share_one_transaction(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        before = store.stats.batches
        cs = []
        for i in range(100):
            m = msg(b"%d" % i)
            cs.append(store.submit([AddMessage(m), AddRef(Q1, m.message_id)]))
        await wait(Completion.all(cs))
        assert store.stats.batches == before + 1
        assert store.stats.largest_batch == 100
        await store.close()

    run(body)


async def hold_first_batch(store: Any) -> tuple[Completion, threading.Event]:
    """Submit one op and keep its batch in the writer (before its COMMIT) until the returned
    event is set; returns once the writer holds it."""
    release = threading.Event()
    entered = threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(10)

    store.before_commit = hold
    first = store.submit([PutMeta("ns", "first", b"1")])
    while not entered.is_set():
        await asyncio.sleep(0.005)
    store.before_commit = None
    return first, release


def test_batches_grow_while_the_writer_is_busy(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        first, release = await hold_first_batch(store)
        later = []
        for tick in range(3):  # three ticks while batch 1 is in the writer
            later.append(store.submit([PutMeta("ns", f"t{tick}a", b"x")]))
            later.append(store.submit([PutMeta("ns", f"t{tick}b", b"x")]))
            await asyncio.sleep(0.01)
        assert not first.is_done and not any(c.is_done for c in later)
        release.set()
        await wait(Completion.all([first, *later]))
        assert store.stats.batches == 2
        assert store.stats.batch_sizes == {1: 1, 6: 1}
        await store.close()

    run(body)


def test_a_message_consumed_before_its_batch_is_written_resolves_without_waiting(backend: Backend) -> None:
    """A submit whose every op cancelled out has nothing on its way to the disk: its
    completion resolves while the batch ahead of it is still being committed, and a submit
    that still has something to write waits for its own commit."""

    async def body() -> None:
        store = backend.make()
        await store.open()
        first, release = await hold_first_batch(store)
        gone, kept, fanned, moved = msg(b"consumed"), msg(b"kept"), msg(b"fanned"), msg(b"moved")
        c_gone = store.submit([AddMessage(gone), AddRef(Q1, gone.message_id, 0, True)])
        c_kept = store.submit([AddMessage(kept), AddRef(Q1, kept.message_id, 0, True)])
        c_fan = store.submit([AddMessage(fanned), AddRef(Q1, fanned.message_id, 0, True),
                              AddRef(Q2, fanned.message_id, 0, True)])
        c_moved = store.submit([AddMessage(moved), AddRef(Q1, moved.message_id, 0, True)])
        both = msg(b"acked by both")
        c_both = store.submit([AddMessage(both), AddRef(Q1, both.message_id, 0, True),
                               AddRef(Q2, both.message_id, 0, True)])
        c_ack = store.submit([RemoveRef(Q1, gone.message_id, acked=True),
                              RemoveRef(Q1, fanned.message_id, acked=True)])
        assert c_ack.is_done and c_ack.ok  # both refs were routed in this open batch
        store.submit([RemoveRef(Q1, both.message_id, acked=True)])
        store.submit([RemoveRef(Q2, both.message_id, acked=True)])
        await wait(c_both)
        # a dead-letter move: not an acknowledgement, so its sender still waits for the disk
        c_move = store.submit([RemoveRef(Q1, moved.message_id), AddMessage(moved), AddRef(Q2, moved.message_id)])
        await wait(c_gone)  # while the first batch is still held in the writer
        assert not first.is_done and not c_kept.is_done and not c_fan.is_done
        assert not c_moved.is_done and not c_move.is_done
        release.set()
        await wait(Completion.all([first, c_kept, c_fan, c_moved, c_move]))
        assert backend.committed_message_ids() == {kept.message_id, fanned.message_id, moved.message_id}
        assert store.stats.dropped_messages == 2  # gone and both, each once
        assert sorted(backend.committed_refs()) == sorted(
            [(Q1, kept.message_id, 0), (Q2, fanned.message_id, 0), (Q2, moved.message_id, 0)])
        await store.close()

    run(body)


def test_a_new_reference_to_an_acknowledged_message_in_the_open_batch_writes_it(backend: Backend) -> None:
    """The record of a message acknowledged within the open batch is dropped, but a later
    reference to it in the same batch (added without its record) brings the record back."""

    async def body() -> None:
        store = backend.make()
        await store.open()
        m = msg(b"acked, then referenced again")
        store.submit([AddMessage(m), AddRef(Q1, m.message_id, 0, True)])
        assert store.submit([RemoveRef(Q1, m.message_id, acked=True)]).is_done
        await wait(store.submit([AddRef(Q2, m.message_id)]))
        assert backend.committed_message_ids() == {m.message_id}
        assert backend.committed_refs() == [(Q2, m.message_id, 0)]
        assert store.stats.dropped_messages == 0
        await store.close()

    run(body)


def test_while_most_submits_are_void_a_batch_ages_before_it_is_written(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once most submits turn void, a batch the idle writer could take waits AGE first,
    still open to the acknowledgements that cancel it; drain (close) cuts the wait short.
    While submits are not void, nothing waits."""
    monkeypatch.setattr(batcher_module, "AGE", 30.0)

    async def body() -> None:
        store = backend.make()
        await store.open()
        # no void submits yet: written at once, no aging
        started = asyncio.get_running_loop().time()
        plain = msg(b"plain")
        await wait(store.submit([AddMessage(plain), AddRef(Q1, plain.message_id, 0, True)]))
        assert asyncio.get_running_loop().time() - started < 10
        # a batch of void submits switches aging on
        a = msg(b"a")
        c_a = store.submit([AddMessage(a), AddRef(Q1, a.message_id, 0, True)])
        assert store.submit([RemoveRef(Q1, a.message_id, acked=True)]).is_done
        await wait(c_a)
        batches = store.stats.batches
        b, c = msg(b"acked while aging"), msg(b"never acked")
        c_b = store.submit([AddMessage(b), AddRef(Q1, b.message_id, 0, True)])
        c_c = store.submit([AddMessage(c), AddRef(Q2, c.message_id, 0, True)])
        for _ in range(5):
            await asyncio.sleep(0)  # the writer is idle: the batch starts aging instead
        assert not c_b.is_done and not c_c.is_done
        # the acknowledgement arrives in a newer batch and cancels against the aging one
        assert store.submit([RemoveRef(Q1, b.message_id, acked=True)]).is_done
        await wait(c_b)
        assert not c_c.is_done and store.stats.batches == batches
        await store.close()  # drains: the aging batch is written now
        assert c_c.is_done and c_c.ok
        assert backend.committed_message_ids() == {plain.message_id, c.message_id}
        assert sorted(backend.committed_refs()) == sorted([(Q1, plain.message_id, 0), (Q2, c.message_id, 0)])

    run(body)


def test_failed_commit_fails_its_batch_and_the_store_stays_usable(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()

        def boom() -> None:
            store.before_commit = None
            raise OSError("disk on fire")

        store.before_commit = boom
        bad = [msg(b"bad1"), msg(b"bad2")]
        cs = [store.submit([AddMessage(m), AddRef(Q1, m.message_id)]) for m in bad]
        with pytest.raises(StoreFailure, match="disk on fire"):
            await wait(cs[0])
        assert cs[1].is_done and isinstance(cs[1].error, StoreFailure)
        good = msg(b"good")
        await wait(store.submit([AddMessage(good), AddRef(Q1, good.message_id)]))
        assert backend.committed_message_ids() == {good.message_id}
        assert store.stats.failed_batches == 1
        await store.close()

    run(body)


def test_unstorable_message_fails_only_its_own_submit(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        ok1 = msg(b"ok1")
        bad = msg(b"bad", properties={"when": object()})
        ok2 = msg(b"ok2")
        c1 = store.submit([AddMessage(ok1), AddRef(Q1, ok1.message_id)])
        c2 = store.submit([AddMessage(bad), AddRef(Q1, bad.message_id)])
        c3 = store.submit([AddMessage(ok2), AddRef(Q1, ok2.message_id)])
        c4 = store.submit([object()])  # type: ignore[list-item]
        assert isinstance(c4.error, StoreFailure)  # refused at once
        await wait(Completion.all([c1, c3]))
        # the record is encoded when its batch is handed over: the failure comes then
        assert c2.is_done and isinstance(c2.error, StoreFailure)
        assert backend.committed_message_ids() == {ok1.message_id, ok2.message_id}
        await store.close()

    run(body)


def test_add_and_remove_in_one_open_batch_cancel_out(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        fast, fanned = msg(b"consumed at once"), msg(b"two subscribers")
        c1 = store.submit([AddMessage(fast), AddRef(Q1, fast.message_id)])
        c2 = store.submit([AddMessage(fanned), AddRef(D1, fanned.message_id), AddRef(Q2, fanned.message_id)])
        c3 = store.submit([RemoveRef(Q1, fast.message_id), RemoveRef(D1, fanned.message_id)])
        done: list[int] = []
        for i, c in enumerate((c1, c2, c3)):
            c.add_callback(lambda c, i=i: done.append(i))
        assert done == []
        await wait(c3)
        assert done == [0, 1, 2]
        assert (store.stats.cancelled_refs, store.stats.dropped_messages) == (2, 1)
        assert store.stats.records_encoded == 1  # the dropped message was never encoded
        assert backend.committed_message_ids() == {fanned.message_id}
        assert backend.committed_refs() == [(Q2, fanned.message_id, 0)]
        await store.close()

    run(body)


def test_fresh_ref_consumed_in_its_own_batch_writes_nothing(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        kept = msg(b"on disk before")
        await wait(store.submit([AddMessage(kept), AddRef(Q1, kept.message_id)]))
        written = store.stats.ops_written
        batches = store.stats.batches
        m = msg(b"routed and consumed at once")
        sent = store.submit([AddMessage(m), AddRef(Q1, m.message_id, 0, True)])
        acked = store.submit([RemoveRef(Q1, m.message_id)])
        assert acked.is_done and acked.ok  # nothing of the ack is left to write
        await wait(sent)
        while store.stats.dropped_messages == 0:  # counted when the open batch is sealed
            await asyncio.sleep(0.001)
        assert store.stats.ops_written == written  # neither the pair nor the message was written
        assert store.stats.batches == batches  # no transaction at all
        assert (store.stats.cancelled_refs, store.stats.dropped_messages) == (1, 1)
        assert backend.committed_message_ids() == {kept.message_id}
        assert backend.committed_refs() == [(Q1, kept.message_id, 0)]
        await store.close()

    run(body)


def test_cancelling_never_keeps_a_ref_that_was_already_on_disk(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        m = msg()
        await wait(store.submit([AddMessage(m), AddRef(Q1, m.message_id)]))
        store.submit([AddRef(Q1, m.message_id, 1)])  # re-added while already stored
        await wait(store.submit([RemoveRef(Q1, m.message_id)]))
        assert store.stats.cancelled_refs == 1
        assert backend.committed_refs() == []
        assert backend.committed_message_ids() == set()
        await store.close()

    run(body)


def test_close_flushes_pending_submits_and_refuses_new_ones(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        before_open = store.submit([PutMeta("ns", "k", b"v")])
        assert isinstance(before_open.error, StoreFailure)
        await store.open()
        m = msg()
        c = store.submit([AddMessage(m), AddRef(Q1, m.message_id)])
        await store.close()
        assert c.ok
        assert isinstance(store.submit([PutMeta("ns", "k", b"v")]).error, StoreFailure)
        store2 = backend.make()
        rec = await store2.open()
        assert ids(rec, Q1) == [m.message_id]
        await store2.close()

    run(body)


# ---------------------------------------------------------------------------- encryption
SECRET = "TOPSECRET-PAYLOAD-7c1d"
META_SECRET = b"META-SECRET-99aa"


def key_file(path: Path, key: bytes | None = None, hex_form: bool = False) -> Path:
    key = key if key is not None else os.urandom(32)
    path.write_bytes(key.hex().encode() + b"\n" if hex_form else key)
    return path


async def store_secret(backend: Backend, cipher: RecordCipher | None) -> Message:
    store = backend.make(cipher=cipher)
    await store.open()
    m = msg(SECRET, body_kind="text", properties={"p": SECRET + "-prop"})
    await wait(store.submit([AddMessage(m), AddRef(Q1, m.message_id), PutMeta("ns", "k", META_SECRET)]))
    await store.close()
    return m


def test_plain_store_holds_plaintext(backend: Backend) -> None:
    """Control for the next test: the grep does find plaintext when there is some."""
    run(lambda: store_secret(backend, None))
    raw = backend.raw_bytes()
    assert SECRET.encode() in raw and META_SECRET in raw


def test_encrypted_store_holds_no_plaintext(backend: Backend, tmp_path: Path) -> None:
    kf = key_file(tmp_path / "master.key", hex_form=True)

    async def body() -> None:
        cipher = RecordCipher(load_or_create_data_key(backend.store_dir, kf))
        m = await store_secret(backend, cipher)
        raw = backend.raw_bytes()
        assert SECRET.encode() not in raw and META_SECRET not in raw
        cipher2 = RecordCipher(load_or_create_data_key(backend.store_dir, kf))
        store = backend.make(cipher=cipher2)
        rec = await store.open()
        same_message(rec.refs[Q1][0].message, m)
        assert rec.meta == {"ns": {"k": META_SECRET}}
        await store.close()

    run(body)


def test_wrong_master_key_fails_clearly(backend: Backend, tmp_path: Path) -> None:
    good = key_file(tmp_path / "good.key")
    wrong = key_file(tmp_path / "wrong.key")
    run(lambda: store_secret(backend, RecordCipher(load_or_create_data_key(backend.store_dir, good))))
    with pytest.raises(EncryptionKeyError, match="wrong master key"):
        load_or_create_data_key(backend.store_dir, wrong)

    async def open_with(cipher: RecordCipher | None) -> None:
        store = backend.make(cipher=cipher)
        try:
            await store.open()
        finally:
            await store.close()

    # a data key that is not the store's, and no key at all: clear errors at open()
    with pytest.raises(EncryptionKeyError, match="wrong key"):
        run(lambda: open_with(RecordCipher(os.urandom(32))))
    with pytest.raises(EncryptionKeyError, match="is encrypted"):
        run(lambda: open_with(None))
    run(lambda: open_with(RecordCipher(load_or_create_data_key(backend.store_dir, good))))


def test_master_key_file_formats(tmp_path: Path) -> None:
    key = os.urandom(32)
    raw = key_file(tmp_path / "raw.key", key)
    hexed = key_file(tmp_path / "hex.key", key, hex_form=True)
    dk = load_or_create_data_key(tmp_path / "s", raw)
    assert len(dk) == 32
    assert load_or_create_data_key(tmp_path / "s", hexed) == dk
    (tmp_path / "short.key").write_bytes(b"abc")
    with pytest.raises(EncryptionKeyError, match="32 raw bytes or 64 hex"):
        load_or_create_data_key(tmp_path / "s", tmp_path / "short.key")
    with pytest.raises(EncryptionKeyError, match="cannot read"):
        load_or_create_data_key(tmp_path / "s", tmp_path / "missing.key")


def test_cipher_binds_records_to_their_associated_data() -> None:
    c = RecordCipher(os.urandom(32))
    blob = c.encrypt(b"hello", b"msg:1")
    assert c.decrypt(blob, b"msg:1") == b"hello"
    assert c.encrypt(b"hello", b"msg:1") != blob  # fresh nonce
    with pytest.raises(RecordError):
        c.decrypt(blob, b"msg:2")
    with pytest.raises(RecordError):
        c.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), b"msg:1")
    with pytest.raises(RecordError):
        c.decrypt(b"short", b"msg:1")


# ---------------------------------------------------------------------------- record codec
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
nested = st.recursive(
    scalars | st.uuids(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
dest_names = st.builds(DestinationName, st.sampled_from(KINDS), st.text(min_size=1, max_size=30))
opt_text = st.none() | st.text(max_size=20)


@st.composite
def messages(draw: st.DrawFn) -> Message:
    kind = draw(st.sampled_from(BODY_KINDS))
    body = {
        "text": st.text(max_size=50),
        "bytes": st.binary(max_size=50),
        "map": st.dictionaries(st.text(max_size=8), nested, max_size=4),
        "stream": st.lists(nested, max_size=4),
        "object": st.binary(max_size=50),
        "empty": st.none() | st.just(b""),
    }[kind]
    return Message(
        draw(dest_names),
        draw(body),
        kind,
        message_id=draw(st.text(min_size=1, max_size=40)),
        properties=draw(st.dictionaries(st.text(max_size=10), scalars, max_size=6)),
        persistent=draw(st.booleans()),
        priority=draw(st.integers(0, 9)),
        expiration=draw(st.integers(0, 2**62)),
        timestamp=draw(st.integers(1, 2**62)),
        correlation_id=draw(opt_text),
        reply_to=draw(st.none() | dest_names),
        type=draw(opt_text),
        group_id=draw(opt_text),
        group_seq=draw(st.integers(-(2**31), 2**31)),
        content_type=draw(opt_text),
        user_id=draw(opt_text),
        origin=draw(st.sampled_from(["", "stomp", "mqtt", "amqp", "openwire"])),
        native=draw(
            st.none() | st.binary(max_size=10) | st.dictionaries(st.text(max_size=5), nested, max_size=3)
        ),
    )


@settings(max_examples=300, deadline=None)
@given(messages())
def test_record_round_trip(m: Message) -> None:
    data = encode_message(m)
    back = decode_message(data)
    same_message(back, m)
    assert encode_message(back) == data


def test_record_keeps_base_types_of_subclasses_and_drops_unstorable_native() -> None:
    class Symbol(str):
        pass

    u = uuid.uuid4()
    m = msg(b"x", properties={"sym": Symbol("a"), "id": u, "tup": (1, 2)}, native=object())
    back = decode_message(encode_message(m))
    assert back.properties == {"sym": "a", "id": u, "tup": [1, 2]}
    assert type(back.properties["sym"]) is str
    assert back.native is None
    with pytest.raises(RecordError):
        encode_message(msg(b"x", properties={"bad": 1j}))


def test_record_rejects_truncated_and_trailing_bytes() -> None:
    data = encode_message(msg(b"abc", properties={"k": "v"}, reply_to=topic("t")))
    for n in range(len(data)):
        with pytest.raises(RecordError):
            decode_message(data[:n])
    with pytest.raises(RecordError):
        decode_message(data + b"\x00")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | messages().map(encode_message).flatmap(lambda d: st.just(d) | st.binary()))
def test_record_fuzz_yields_a_message_or_record_error(data: bytes) -> None:
    try:
        assert isinstance(decode_message(data), Message)
    except RecordError:
        pass


@settings(max_examples=200, deadline=None)
@given(messages().map(encode_message), st.data())
def test_record_fuzz_single_byte_corruption(data: bytes, draw: st.DataObject) -> None:
    i = draw.draw(st.integers(0, len(data) - 1))
    b = draw.draw(st.integers(0, 255))
    try:
        decode_message(data[:i] + bytes([b]) + data[i + 1 :])
    except RecordError:
        pass


# ---------------------------------------------------------------------------- kill -9
def test_nothing_acknowledged_is_lost_after_kill_9(backend: Backend, tmp_path: Path) -> None:
    if backend.name != "sqlite":  # pragma: no cover - other backends bring their own child
        pytest.skip("the child process drives the SQLite store")
    child = Path(__file__).with_name("store_child.py")
    kf = key_file(tmp_path / "master.key")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, str(child), str(backend.db_path), str(kf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        while len(acked) < 300:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"child exited early: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            acked.append(line.decode().strip())
        proc.send_signal(signal.SIGKILL)
        rest, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:  # pragma: no cover
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    acked += [x for x in rest.decode().splitlines() if x.strip()]

    async def body() -> set[str]:
        store = backend.make(cipher=RecordCipher(load_or_create_data_key(backend.store_dir, kf)))
        rec = await store.open()
        await store.close()
        return set(ids(rec, queue_key("kill.test")))

    recovered = run(body)
    missing = [x for x in acked if x not in recovered]
    assert not missing, f"{len(missing)} acknowledged messages lost, e.g. {missing[:3]}"
    assert len(recovered) >= len(acked)


def test_one_batch_of_interleaved_ops_keeps_every_outcome(backend: Backend) -> None:
    """The writer groups a batch's ops by kind; what each op meant in submit order stays."""

    async def body() -> None:
        store = backend.make()
        await store.open()
        moved, shared, kept = msg(b"moved"), msg(b"shared"), msg(b"kept")
        await wait(store.submit([AddMessage(moved), AddRef(Q1, moved.message_id),
                                 AddMessage(shared), AddRef(Q1, shared.message_id)]))
        fresh = [msg(f"m{i}".encode()) for i in range(5)]
        subs = []
        for m in fresh:  # one batch: records and references interleaved per message
            subs.append(store.submit([AddMessage(m), AddRef(Q2, m.message_id)]))
        # removed from one key, then referenced from another: the message stays
        subs.append(store.submit([RemoveRef(Q1, moved.message_id)]))
        subs.append(store.submit([AddRef(D1, moved.message_id)]))
        # removed (its record goes), then stored again under the same key: it stays, count 3
        subs.append(store.submit([RemoveRef(Q1, shared.message_id)]))
        subs.append(store.submit([AddMessage(shared), AddRef(Q1, shared.message_id, 3)]))
        # a count set, then the reference re-added: the re-add's count wins
        subs.append(store.submit([AddMessage(kept), AddRef(D1, kept.message_id)]))
        await wait(Completion.all(subs))
        await wait(store.submit([SetDeliveryCount(D1, kept.message_id, 7), AddRef(D1, kept.message_id, 1)]))
        store, rec = await reopen(backend, store)
        assert ids(rec, Q2) == [m.message_id for m in fresh]  # per-key order kept
        assert ids(rec, D1) == [moved.message_id, kept.message_id]
        assert ids(rec, Q1) == [shared.message_id]
        assert rec.refs[Q1][0].delivery_count == 3
        assert rec.refs[D1][1].delivery_count == 1
        await store.close()

    run(body)


def test_batch_plan_groups_kinds_between_barriers() -> None:
    from ferrymq.store.sqlite import _plan

    a, b = msg(b"a"), msg(b"b")
    ops: list[Any] = [AddMessage(a), AddRef(Q1, a.message_id), AddMessage(b), AddRef(Q1, b.message_id),
                      RemoveRef(Q2, "old"), None, PutMeta("n", "k", b"v"), AddRef(Q2, "x"),
                      RemoveRef(Q2, "x"), AddRef(Q2, "x")]
    plan = [(t.__name__, len(run)) for t, run in _plan(ops)]
    assert plan == [("AddMessage", 2), ("AddRef", 2), ("RemoveRef", 1), ("PutMeta", 1),
                    ("AddRef", 1), ("RemoveRef", 1), ("AddRef", 1)]


def test_a_message_stored_again_under_its_id_in_one_batch_keeps_the_later_record(backend: Backend) -> None:
    """A queue message dead-lettered under its own id before its first batch was written:
    the DLQ's copy is what is stored."""

    async def body() -> None:
        store = backend.make()
        await store.open()
        m = msg(b"to dlq")
        copy = m.copy(destination=queue("ActiveMQ.DLQ"), properties={"originalDestination": "queue://orders"})
        c1 = store.submit([AddMessage(m), AddRef(Q1, m.message_id, 0, True)])
        c2 = store.submit([RemoveRef(Q1, m.message_id), AddMessage(copy), AddRef(Q2, m.message_id)])
        await wait(Completion.all([c1, c2]))
        store, rec = await reopen(backend, store)
        assert ids(rec, Q1) == []
        (r,) = rec.refs[Q2]
        assert r.message.properties == {"originalDestination": "queue://orders"}
        assert r.message.destination == queue("ActiveMQ.DLQ")
        await store.close()

    run(body)


def test_a_large_batch_is_written_in_multi_row_statements_with_every_outcome(backend: Backend) -> None:
    """127 records, references and removals in one batch: every chunk size of the writer's
    multi-row statements (64, 32, ... 1) is used, and a reference added twice in one run
    keeps the later count."""

    async def body() -> None:
        store = backend.make()
        await store.open()
        old = [msg(b"old%d" % i) for i in range(127)]
        await wait(Completion.all([store.submit([AddMessage(m), AddRef(Q1, m.message_id)]) for m in old]))
        new = [msg(b"new%d" % i) for i in range(127)]
        subs = [store.submit([AddMessage(m), AddRef(Q2, m.message_id)]) for m in new]
        subs += [store.submit([RemoveRef(Q1, m.message_id)]) for m in old[:100]]
        subs.append(store.submit([AddRef(Q2, new[70].message_id, 4)]))  # row 127: the statement of rows 64-127
        subs.append(store.submit([AddRef(Q2, new[100].message_id, 7)]))  # row 128: a statement of its own
        await wait(Completion.all(subs))
        assert backend.committed_message_ids() == {m.message_id for m in old[100:] + new}
        store, rec = await reopen(backend, store)
        assert ids(rec, Q1) == [m.message_id for m in old[100:]]
        assert ids(rec, Q2) == [m.message_id for m in new]
        assert rec.refs[Q2][70].delivery_count == 4
        assert rec.refs[Q2][100].delivery_count == 7
        await store.close()

    run(body)


def test_a_multi_megabyte_message_is_stored(backend: Backend) -> None:
    async def body() -> None:
        store = backend.make()
        await store.open()
        big = msg(os.urandom(5 * 1024 * 1024))
        await wait(store.submit([AddMessage(big), AddRef(Q1, big.message_id)]))
        store, rec = await reopen(backend, store)
        (r,) = rec.refs[Q1]
        assert r.message.body == big.body
        await store.close()

    run(body)
