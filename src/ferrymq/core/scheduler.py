"""Scheduled delivery, ActiveMQ's way: a message carrying ``AMQ_SCHEDULED_DELAY`` (ms),
``AMQ_SCHEDULED_PERIOD`` (ms), ``AMQ_SCHEDULED_REPEAT`` (count) or ``AMQ_SCHEDULED_CRON``
(five-field cron, UTC) is kept by the scheduler and routed, as a fresh copy, when due.

Jobs are durable whatever the message's persistence (ActiveMQ's job scheduler store):
the message under store key ``$sched`` and the job's state in meta namespace ``sched``.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ferrymq.core.errors import InvalidRequest
from ferrymq.core.message import Message, new_message_id
from ferrymq.core.ports import AddMessage, AddRef, PutMeta, RemoveRef, StoreOp

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker

log = logging.getLogger("ferrymq.scheduler")

DELAY = "AMQ_SCHEDULED_DELAY"
PERIOD = "AMQ_SCHEDULED_PERIOD"
REPEAT = "AMQ_SCHEDULED_REPEAT"
CRON = "AMQ_SCHEDULED_CRON"
SCHEDULING_PROPS = (DELAY, PERIOD, REPEAT, CRON)
STORE_KEY = "$sched"
META_NS = "sched"
#: ActiveMQ's maxSchedulerRepeatAllowed default is unlimited; we cap runaway repeats
MAX_REPEAT = 1_000_000


SCHEDULING_SET = frozenset(SCHEDULING_PROPS)


def is_scheduled(message: Message) -> bool:
    p = message.properties
    if not p or SCHEDULING_SET.isdisjoint(p):
        return False
    for k in SCHEDULING_PROPS:
        v = p.get(k)
        if v is not None and v != "" and v != 0 and v != "0":
            return True
    return False


def _num(message: Message, name: str) -> int:
    v = message.properties.get(name)
    if v is None or v == "":
        return 0
    try:
        n = int(str(v).strip())
    except ValueError:
        raise InvalidRequest(f"{name} must be an integer, got {v!r}") from None
    if n < 0:
        raise InvalidRequest(f"{name} must not be negative, got {n}")
    return n


class Job:
    __slots__ = ("job_id", "message", "next_ms", "delay", "period", "repeat_left", "cron")

    def __init__(self, job_id: str, message: Message, next_ms: int, delay: int, period: int,
                 repeat_left: int, cron: CronSpec | None) -> None:
        self.job_id = job_id
        self.message = message
        self.next_ms = next_ms
        self.delay = delay
        self.period = period
        self.repeat_left = repeat_left
        self.cron = cron

    def state(self) -> bytes:
        return json.dumps({"next": self.next_ms, "delay": self.delay, "period": self.period,
                           "repeat_left": self.repeat_left,
                           "cron": self.cron.text if self.cron else None}).encode()

    def __lt__(self, other: Job) -> bool:
        return (self.next_ms, self.job_id) < (other.next_ms, other.job_id)


class Scheduler:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.jobs: dict[str, Job] = {}
        self._heap: list[Job] = []
        self._timer: Any = None
        self._timer_at = 0

    def now_ms(self) -> int:
        return int(self.broker.clock.time() * 1000)

    def schedule(self, message: Message, ops: list[StoreOp]) -> None:
        delay = _num(message, DELAY)
        period = _num(message, PERIOD)
        repeat = min(_num(message, REPEAT), MAX_REPEAT)
        cron_text = message.properties.get(CRON)
        cron = CronSpec(str(cron_text)) if cron_text else None
        now = self.now_ms()
        if cron is not None:
            first = cron.next_after(now) + delay
        else:
            first = now + delay
        job = Job(message.message_id, message, first, delay, period, repeat, cron)
        self.jobs[job.job_id] = job
        ops.append(AddMessage(message))
        ops.append(AddRef(STORE_KEY, message.message_id, 0))
        ops.append(PutMeta(META_NS, job.job_id, job.state()))
        self._push(job)

    def recover(self, refs: list[Any], meta: dict[str, bytes]) -> None:
        for r in refs:
            m = r.message
            raw = meta.get(m.message_id)
            if raw is None:
                continue
            st = json.loads(raw)
            cron = CronSpec(st["cron"]) if st.get("cron") else None
            job = Job(m.message_id, m, int(st["next"]), int(st["delay"]), int(st["period"]),
                      int(st["repeat_left"]), cron)
            self.jobs[job.job_id] = job
            self._push(job)

    def _push(self, job: Job) -> None:
        heapq.heappush(self._heap, job)
        self._arm()

    def _arm(self) -> None:
        while self._heap and self._heap[0].job_id not in self.jobs:
            heapq.heappop(self._heap)
        if not self._heap:
            return
        at = self._heap[0].next_ms
        if self._timer is not None:
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        delay = max(0.0, (at - self.now_ms()) / 1000.0)
        self._timer = self.broker.clock.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = self.now_ms()
        ops: list[StoreOp] = []
        while self._heap and self._heap[0].next_ms <= now:
            job = heapq.heappop(self._heap)
            if self.jobs.get(job.job_id) is not job:
                continue
            self._deliver(job, ops)
            if job.cron is not None:
                # cron jobs fire at every cron time (plus the delay) until cancelled
                job.next_ms = max(job.cron.next_after(now) + job.delay, now + 1)
            elif job.repeat_left > 0:
                job.repeat_left -= 1
                job.next_ms = job.next_ms + job.period
            else:
                del self.jobs[job.job_id]
                ops.append(RemoveRef(STORE_KEY, job.job_id))
                ops.append(PutMeta(META_NS, job.job_id, None))
                continue
            ops.append(PutMeta(META_NS, job.job_id, job.state()))
            heapq.heappush(self._heap, job)
        if ops:
            self.broker.defer_ops(ops)
        self._arm()

    def _deliver(self, job: Job, ops: list[StoreOp]) -> None:
        props = {k: v for k, v in job.message.properties.items() if k not in SCHEDULING_PROPS}
        props["scheduledJobId"] = job.job_id
        copy = job.message.copy(message_id=new_message_id(), properties=props,
                                timestamp=self.now_ms())
        try:
            self.broker.route(copy, ops)
        except Exception as e:  # the destination is gone (e.g. a temporary queue)
            log.warning("scheduled job %s could not be delivered: %s", job.job_id, e)

    def cancel(self, job_id: str) -> bool:
        job = self.jobs.pop(job_id, None)
        if job is None:
            return False
        self.broker.defer_ops([RemoveRef(STORE_KEY, job_id), PutMeta(META_NS, job_id, None)])
        return True

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# ---------------------------------------------------------------------------- cron
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 6))


class CronSpec:
    """Five-field cron (minute hour day-of-month month day-of-week), UTC: ``*``, numbers,
    ranges ``a-b``, lists ``a,b`` and steps ``*/n`` / ``a-b/n``; day of week 0-7 (0 and 7
    are Sunday). When both day fields are restricted either may match (Vixie cron)."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        parts = self.text.split()
        if len(parts) != 5:
            raise InvalidRequest(f"{CRON} must have 5 fields (minute hour day month weekday): {text!r}")
        sets = []
        for part, (name, lo, hi) in zip(parts, _FIELDS, strict=True):
            sets.append(_parse_field(part, name, lo, 7 if name == "day of week" else hi))
        self.minutes, self.hours, self.days, self.months, dows = sets
        self.dows = {d % 7 for d in dows}
        self.dom_any = parts[2] == "*"
        self.dow_any = parts[4] == "*"

    def _day_ok(self, t: datetime) -> bool:
        dom = t.day in self.days
        dow = (t.isoweekday() % 7) in self.dows
        if self.dom_any and self.dow_any:
            return True
        if self.dom_any:
            return dow
        if self.dow_any:
            return dom
        return dom or dow

    def next_after(self, now_ms: int) -> int:
        t = datetime.fromtimestamp(now_ms / 1000.0, tz=UTC).replace(second=0, microsecond=0)
        t += timedelta(minutes=1)
        horizon = t + timedelta(days=5 * 366)
        while t < horizon:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = (t + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0)
                continue
            if t.minute not in self.minutes:
                t += timedelta(minutes=1)
                continue
            return int(t.timestamp() * 1000)
        raise InvalidRequest(f"{CRON} {self.text!r} never fires")


def _parse_field(part: str, name: str, lo: int, hi: int) -> set[int]:
    out: set[int] = set()
    for item in part.split(","):
        step = 1
        if "/" in item:
            item, _, st = item.partition("/")
            if not st.isdigit() or int(st) == 0:
                raise InvalidRequest(f"{CRON}: bad step in the {name} field: {part!r}")
            step = int(st)
        if item == "*":
            a, b = lo, hi
        elif "-" in item:
            x, _, y = item.partition("-")
            if not (x.isdigit() and y.isdigit()):
                raise InvalidRequest(f"{CRON}: bad range in the {name} field: {part!r}")
            a, b = int(x), int(y)
        elif item.isdigit():
            a = b = int(item)
            if step != 1:
                b = hi
        else:
            raise InvalidRequest(f"{CRON}: bad value in the {name} field: {part!r}")
        if a < lo or b > hi or a > b:
            raise InvalidRequest(f"{CRON}: {name} values must lie in {lo}-{hi}: {part!r}")
        out.update(range(a, b + 1, step))
    return out


def cron_next(text: str, now_ms: int | None = None) -> int:
    return CronSpec(text).next_after(int(time.time() * 1000) if now_ms is None else now_ms)


__all__ = ["CRON", "DELAY", "PERIOD", "REPEAT", "CronSpec", "Scheduler", "cron_next", "is_scheduled"]
