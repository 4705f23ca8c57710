"""Group commit: the store side of R2.

``submit(ops)`` runs on the event loop thread and never blocks. It appends the ops and a
new :class:`Completion` to the *open* batch; the first submit of a tick schedules a flush
with ``loop.call_soon``. The flush hands the open batch to the one writer thread, which
commits it as one transaction and reports back with ``call_soon_threadsafe``; the
completions then resolve on the loop, in submit order. While a batch is being written the
next one keeps filling, so under load batches grow on their own. One batch is in the
writer at a time, so batches commit strictly in submit order.

Within the open batch an ``AddRef`` followed by a ``RemoveRef`` of the same reference
cancel out (the ``AddRef`` is not written; the ``RemoveRef`` stays unless the ``AddRef``
was *fresh*, made when the message was routed, so the reference cannot be on disk), and an
``AddMessage`` left with no reference added by the batch is dropped (ActiveMQ's "concurrent
store and dispatch"): a message consumed before its batch was handed over never reaches the
disk. A submit left with nothing to write that way is *void*: its completion resolves without
waiting for any commit (a tick later, or at once when the submit itself is the ack that
cancelled everything it held), since nothing it asked for is on its way to the disk. This is
what ActiveMQ does when a store task is cancelled: the producer of a message that was
consumed and acknowledged before it was written is answered without a write (only
acknowledgements count: a ``RemoveRef`` with ``acked``, not a move). Every other completion
resolves only after its batch committed, in submit order.

While most submits turn void, a batch *ages* for ``AGE`` before the writer takes it (a newer
open batch takes the submits meanwhile, and acknowledgements still cancel against the aging
one), so only messages not acknowledged within that time are written (see
:class:`GroupCommitBatcher`).

Message records are encoded when the batch is handed over (still on the loop thread), so a
message consumed before then is never encoded at all. A message that cannot be encoded
fails the submit that added it alone: that submit's ops are left out of the batch.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ferrymq.core.completion import DONE, Completion
from ferrymq.core.errors import StoreFailure
from ferrymq.core.message import Message
from ferrymq.core.ports import AddMessage, AddRef, DropKey, PutMeta, RemoveRef, SetDeliveryCount, StoreOp

log = logging.getLogger("ferrymq.store")

T = TypeVar("T")

#: how long a batch ages before it is written while most submits turn void (see
#: GroupCommitBatcher): about the round trip of a delivery and its acknowledgement
AGE = 0.001

_OP_TYPES = frozenset((AddMessage, AddRef, RemoveRef, SetDeliveryCount, DropKey, PutMeta))


@dataclass
class StoreStats:
    """Counters read by tests, benchmarks and the metrics collector (no locking needed:
    only the loop thread writes them)."""

    submits: int = 0
    batches: int = 0  # transactions committed (or attempted)
    failed_batches: int = 0
    ops_written: int = 0
    cancelled_refs: int = 0  # AddRef/RemoveRef pairs that cancelled in an open batch
    dropped_messages: int = 0  # AddMessage never written because every ref cancelled
    void_submits: int = 0  # submits left with nothing to write, resolved without a commit
    records_encoded: int = 0  # message records encoded (at hand-over: dropped ones never are)
    largest_batch: int = 0  # submits in the largest batch
    batch_sizes: dict[int, int] = field(default_factory=dict)  # submits per batch -> count

    def record_batch(self, submits: int) -> None:
        self.batches += 1
        if submits > self.largest_batch:
            self.largest_batch = submits
        self.batch_sizes[submits] = self.batch_sizes.get(submits, 0) + 1


class Batch:
    """The ops of several submits, written as one transaction.

    ``ops`` may hold ``None`` where an op cancelled out. ``records`` maps each added
    message id to its encoded record (encoded at hand-over, on the loop thread, so the
    writer never reads a live :class:`Message`). ``starts[i]`` is the index in ``ops`` of
    the first op of the submit whose completion is ``completions[i]``.
    """

    __slots__ = ("ops", "records", "completions", "starts", "early", "aged_at", "_ref_at", "_msg_at", "_live_refs",
                 "_cancelled", "_moved", "_voided")

    def __init__(self) -> None:
        self.ops: list[StoreOp | None] = []
        self.records: dict[str, bytes] = {}
        self.completions: list[Completion] = []
        self.starts: list[int] = []
        self.early: list[Completion] = []  # completions of submits that became void
        self.aged_at = 0.0  # loop time from which an aging batch may be written
        self._ref_at: dict[tuple[str, str], int] = {}
        self._msg_at: dict[str, list[int]] = {}
        self._live_refs: dict[str, int] = {}
        self._cancelled: set[str] | None = None
        self._moved: set[str] | None = None  # messages a reference of was cancelled by a move
        self._voided: dict[str, list[tuple[int, StoreOp]]] | None = None  # records dropped by _void

    def __len__(self) -> int:
        return len(self.completions)

    def add(self, ops: Sequence[StoreOp], stats: StoreStats, older: Batch | None = None) -> None:
        """Append one submit's ops (its start is already in ``starts``). A removal cancels
        the reference it removes if that was added in this batch or in ``older``, the
        batch before it that is still open."""
        out = self.ops
        live_refs = self._live_refs
        for op in ops:
            t = type(op)
            if t is AddRef:
                mid = op.message_id  # type: ignore[union-attr]
                self._ref_at[(op.store_key, mid)] = len(out)  # type: ignore[union-attr]
                live = live_refs.get(mid)
                if live is None:
                    live_refs[mid] = 1
                    if older is not None and older._voided is not None and mid in older._voided:
                        older._revive(mid, stats)
                else:
                    if live == 0 and self._voided is not None and mid in self._voided:
                        self._revive(mid, stats)
                    live_refs[mid] = live + 1
            elif t is RemoveRef:
                key = (op.store_key, op.message_id)  # type: ignore[union-attr]
                at = self._ref_at.pop(key, None)
                if at is not None:
                    if self._cancel(at, op, stats, len(self.starts) - 1):  # type: ignore[arg-type]
                        continue
                elif older is not None:
                    at = older._ref_at.pop(key, None)
                    if at is not None and older._cancel(at, op, stats, -1):  # type: ignore[arg-type]
                        continue
            elif t is AddMessage:
                mid = op.message.message_id  # type: ignore[union-attr]
                at_list = self._msg_at.get(mid)
                if at_list is None:
                    self._msg_at[mid] = [len(out)]
                else:
                    at_list.append(len(out))
            elif t is DropKey:
                # DropKey removes refs added earlier: stop pairing across it.
                self._ref_at.clear()
                if older is not None:
                    older._ref_at.clear()
            out.append(op)

    def _cancel(self, at: int, op: RemoveRef, stats: StoreStats, current: int) -> bool:
        """``op`` removes the reference added at ``at``: cancel the pair. True when the
        removal need not be written either (the reference was *fresh*, never on disk).
        ``current`` is the submit being added to this batch (-1: none)."""
        ops = self.ops
        added = ops[at]
        ops[at] = None
        mid = op.message_id
        live_refs = self._live_refs
        left = live_refs[mid] - 1
        live_refs[mid] = left
        stats.cancelled_refs += 1
        moved = self._moved
        if not op.acked:
            if moved is None:
                moved = self._moved = set()
            moved.add(mid)
            self._seal_decides(mid)
        elif left == 0:
            if moved is None or mid not in moved:
                self._void(mid, at, stats, current)
            else:
                self._seal_decides(mid)
        # a reference routed in this batch was never on disk: nothing to delete; otherwise
        # the RemoveRef stays (the reference may also be on disk from an earlier batch)
        return added.fresh  # type: ignore[union-attr, no-any-return]

    def _seal_decides(self, mid: str) -> None:
        if self._cancelled is None:
            self._cancelled = set()
        self._cancelled.add(mid)

    def _void(self, mid: str, at: int, stats: StoreStats, current: int) -> None:
        """A consumer's acknowledgement cancelled the last reference to ``mid`` added in this
        batch (the reference at ``at``), and no reference of it was moved: the message was
        delivered and acknowledged everywhere it went. Its records are dropped now, and every
        submit that added it or that reference and has nothing left to write is void: its
        completion goes to ``early``."""
        ops, starts = self.ops, self.starts
        k = bisect.bisect_right(starts, at) - 1
        first = starts[k]
        ks = [k]
        at_list = self._msg_at.get(mid)
        if at_list is not None:
            dropped = []
            for i in at_list:
                op = ops[i]
                if op is not None:
                    dropped.append((i, op))
                    ops[i] = None
                    if i < first:  # (usually the record is in the reference's own submit)
                        ks.append(bisect.bisect_right(starts, i) - 1)
            if dropped:
                if self._voided is None:
                    self._voided = {}
                self._voided[mid] = dropped
                stats.dropped_messages += 1
        n = len(ops)
        early = self.early
        for k in ks:
            if k == current:  # the submit being added: its completion is not there yet
                continue
            s = starts[k]
            e = starts[k + 1] if k + 1 < len(starts) else n
            if ops[s:e].count(None) == e - s:
                early.append(self.completions[k])
                stats.void_submits += 1

    def _revive(self, mid: str, stats: StoreStats) -> None:
        """A new reference to a message dropped by :meth:`_void`: its records go back in."""
        assert self._voided is not None
        for i, op in self._voided.pop(mid):
            self.ops[i] = op
        stats.dropped_messages -= 1

    def seal(self, stats: StoreStats) -> None:
        """Drop the messages whose every reference added in this batch cancelled."""
        if not self._cancelled:
            return
        for mid in self._cancelled:
            at_list = self._msg_at.get(mid)
            if at_list is not None and self._live_refs.get(mid, 0) == 0:
                for at in at_list:
                    self.ops[at] = None
                self.records.pop(mid, None)
                stats.dropped_messages += 1

    def encode(
        self, encode: Callable[[Message], bytes], stats: StoreStats
    ) -> list[tuple[Completion, StoreFailure]]:
        """Encode the records of the messages still to be written. A submit holding a message
        that cannot be encoded is taken out of the batch; returned with its error."""
        ops, records = self.ops, self.records
        failed: list[tuple[int, StoreFailure]] = []
        # newest first: a message id added twice in one batch (a queue message dead-lettered
        # under its own id before its first record was written) is stored as the later one
        for i in range(len(ops) - 1, -1, -1):
            op = ops[i]
            if op is None or type(op) is not AddMessage:
                continue
            m = op.message
            if m.message_id in records:
                continue
            stats.records_encoded += 1
            try:
                records[m.message_id] = encode(m)
            except StoreFailure as e:
                failed.append((i, e))
            except Exception as e:
                failed.append((i, StoreFailure(f"cannot encode message {m.message_id!r}: {e}")))
        if not failed:
            return []
        out: list[tuple[Completion, StoreFailure]] = []
        bad_ids: set[str] = set()
        gone: set[int] = set()
        for i, err in failed:
            k = bisect.bisect_right(self.starts, i) - 1
            if k in gone:
                continue
            gone.add(k)
            end = self.starts[k + 1] if k + 1 < len(self.starts) else len(ops)
            for j in range(self.starts[k], end):
                op = ops[j]
                if type(op) is AddMessage:
                    bad_ids.add(op.message.message_id)  # type: ignore[union-attr]
                ops[j] = None
            out.append((self.completions[k], err))
        # references other submits added to a message that is not written go too
        for j, op in enumerate(ops):
            if type(op) is AddRef and op.message_id in bad_ids:  # type: ignore[union-attr]
                ops[j] = None
        for mid in bad_ids:
            records.pop(mid, None)
        self.completions = [c for k, c in enumerate(self.completions) if k not in gone]
        self.starts = []  # no longer needed: the batch is sealed
        return out


class Writer:
    """One dedicated thread running blocking jobs in order."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException:  # pragma: no cover - jobs catch their own errors
                log.exception("store writer job failed")

    def post(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def call(self, loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run ``fn`` in the writer thread; the future resolves on ``loop``."""
        fut: asyncio.Future[T] = loop.create_future()

        def job() -> None:
            try:
                res = fn()
            except BaseException as e:
                loop.call_soon_threadsafe(_set_exception, fut, e)
            else:
                loop.call_soon_threadsafe(_set_result, fut, res)

        self.post(job)
        return fut

    def stop(self) -> None:
        self._jobs.put(None)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


def _set_result(fut: asyncio.Future[Any], res: Any) -> None:
    if not fut.done():
        fut.set_result(res)


def _set_exception(fut: asyncio.Future[Any], e: BaseException) -> None:
    if not fut.done():
        fut.set_exception(e)


WriteFn = Callable[[list[StoreOp | None], dict[str, bytes]], None]


class GroupCommitBatcher:
    """Collects submits into batches and feeds them, one at a time, to ``write``.

    ``encode`` turns a message into its record on the loop thread at submit time; if it
    raises, that submit fails alone. ``write(ops, records)`` runs in the writer thread and
    must commit the whole batch atomically or raise.

    **Aging.** While most submits turn void (consumers acknowledge messages within
    moments), a batch is not written as soon as the writer is free: it first *ages*. It
    stops taking submits (a new open batch takes them) and waits until ``AGE`` after that,
    still cancelling pairs against the removals that arrive meanwhile. So a message is
    written only if it was not acknowledged within ``AGE``; the newest messages, whose
    acknowledgements are on their way, are never written just because the writer happened
    to be idle. Without aging, those written messages held back (in order) the
    acknowledgements of every message behind them for a whole commit.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        writer: Writer,
        write: WriteFn,
        encode: Callable[[Message], bytes],
        stats: StoreStats,
        *,
        cancel_pairs: bool = True,
    ) -> None:
        self._loop = loop
        self._writer = writer
        self._write = write
        self._encode = encode
        self.stats = stats
        self._cancel_pairs = cancel_pairs
        self._early: list[Completion] = []  # void completions to resolve (shared with batches)
        self._early_scheduled = False
        self._open = self._new_batch()
        self._aging: Batch | None = None
        self._aging_on = False  # most submits of the last batch were void
        self._marks = (0, 0)  # stats.void_submits, stats.submits when the last batch left
        self._age_timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._flush_scheduled = False
        self._in_flight: Batch | None = None
        self._idle_waiters: list[asyncio.Future[None]] = []
        self.closed = False

    # -- loop thread ------------------------------------------------------------------
    def submit(self, ops: Sequence[StoreOp]) -> Completion:
        if self.closed:
            return Completion.failed(StoreFailure("the store is closed"))
        types = set(map(type, ops))
        if not types <= _OP_TYPES or PutMeta in types:
            for op in ops:
                t = type(op)
                if t not in _OP_TYPES:
                    return Completion.failed(StoreFailure(f"unknown store op {t.__name__}"))
                if t is PutMeta and not isinstance(op.value, bytes | bytearray | memoryview | None):  # type: ignore[union-attr]
                    return Completion.failed(StoreFailure("PutMeta value must be bytes or None"))
        batch = self._open
        start = len(batch.ops)
        batch.starts.append(start)
        stats = self.stats
        stats.submits += 1
        if self._cancel_pairs:
            batch.add(ops, stats, self._aging)
            if self._early and not self._early_scheduled:
                self._early_scheduled = True
                self._loop.call_soon(self._resolve_early)
            if len(batch.ops) == start:
                # every op cancelled against an open batch (an ack of a message routed in
                # it): nothing to write, so nothing to wait for
                batch.starts.pop()
                stats.void_submits += 1
                return DONE
        else:
            batch.ops.extend(ops)
        c = Completion()
        batch.completions.append(c)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        return c

    def _new_batch(self) -> Batch:
        b = Batch()
        b.early = self._early  # void completions go straight to the batcher's list
        return b

    def _resolve_early(self) -> None:
        """Resolve the void submits' completions (a tick later: never inside another submit)."""
        self._early_scheduled = False
        early = self._early[:]  # the list is shared with the open batches
        self._early.clear()
        for c in early:
            c.resolve()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._in_flight is None:
            self._next()

    def _aged(self) -> None:
        self._age_timer = None
        if self._in_flight is None:
            self._next()  # (re-arms the timer when the aging batch is not old enough yet)

    def _next(self) -> None:
        """The writer is free: give it the next batch, or let the open one age first."""
        aging = self._aging
        if aging is not None:
            if self._aging_on and not self._draining:
                wait = aging.aged_at - self._loop.time()
                if wait > 0:
                    if self._age_timer is None:
                        self._age_timer = self._loop.call_later(wait, self._aged)
                    return
            self._aging = None
            if self._open.completions and self._aging_on and not self._draining:
                self._start_aging()
            self._hand_over(aging)
            return
        if not self._open.completions:
            self._notify_idle()
            return
        if self._aging_on and not self._draining:
            self._start_aging()
            if self._age_timer is None:
                self._age_timer = self._loop.call_later(AGE, self._aged)
            return
        batch = self._open
        self._open = self._new_batch()
        self._hand_over(batch)

    def _start_aging(self) -> None:
        batch = self._aging = self._open
        batch.aged_at = self._loop.time() + AGE
        self._open = self._new_batch()

    def _hand_over(self, batch: Batch) -> None:
        stats = self.stats
        voids, subs = stats.void_submits - self._marks[0], stats.submits - self._marks[1]
        self._aging_on = subs > 0 and voids * 2 >= subs
        self._marks = (stats.void_submits, stats.submits)
        batch.seal(stats)
        failed = batch.encode(self._encode, stats)
        for c, err in failed:
            c.fail(err)
        if not batch.completions:
            self._next()  # every submit failed: nothing to write
            return
        if batch.ops.count(None) == len(batch.ops):
            # everything cancelled out: no transaction needed
            for c in batch.completions:
                if not c.is_done:
                    stats.void_submits += 1
                    c.resolve()
            self._next()
            return
        self._in_flight = batch
        loop = self._loop
        done = self._batch_done
        write, ops, records = self._write, batch.ops, batch.records

        def job() -> None:
            try:
                write(ops, records)
            except BaseException as e:
                loop.call_soon_threadsafe(done, batch, e)
            else:
                loop.call_soon_threadsafe(done, batch, None)

        self._writer.post(job)

    def _batch_done(self, batch: Batch, error: BaseException | None) -> None:
        self._in_flight = None
        self.stats.record_batch(len(batch.completions))
        # Start the next batch before running callbacks: the writer works while they run.
        if not self._flush_scheduled:
            self._next()
        if error is None:
            self.stats.ops_written += len(batch.ops) - batch.ops.count(None)
            for c in batch.completions:
                c.resolve()
        else:
            self.stats.failed_batches += 1
            log.error("store commit of %d submits failed: %s", len(batch.completions), error)
            failure = (
                error if isinstance(error, StoreFailure) else StoreFailure(f"store commit failed: {error}")
            )
            for c in batch.completions:
                c.fail(failure)
        if self.idle:
            self._notify_idle()

    def _notify_idle(self) -> None:
        waiters = self._idle_waiters
        self._idle_waiters = []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    @property
    def idle(self) -> bool:
        return self._in_flight is None and self._aging is None and not self._open.completions

    async def drain(self) -> None:
        """Wait until every submitted batch has been written (aging is cut short)."""
        self._draining = True
        try:
            while not self.idle:
                fut: asyncio.Future[None] = self._loop.create_future()
                self._idle_waiters.append(fut)
                if self._in_flight is None and not self._flush_scheduled:
                    self._next()
                await fut
        finally:
            self._draining = False
