"""Local transactions: sends and settlements applied atomically on commit (one store
submit), dropped on rollback."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrymq.core.completion import Completion
from ferrymq.core.delivery import Entry, Outcome
from ferrymq.core.errors import IllegalState
from ferrymq.core.message import Message
from ferrymq.core.ports import StoreOp

if TYPE_CHECKING:
    from ferrymq.core.session import ClientSession
    from ferrymq.core.subscription import Subscription


class Transaction:
    __slots__ = ("session", "tx_id", "sends", "settlements", "state")

    def __init__(self, session: ClientSession, tx_id: object) -> None:
        self.session = session
        self.tx_id = tx_id
        self.sends: list[Message] = []
        self.settlements: list[tuple[Subscription, list[tuple[int, Entry]], Outcome]] = []
        self.state = "active"

    def _check(self) -> None:
        if self.state != "active":
            raise IllegalState(f"transaction {self.tx_id} is {self.state}")

    def add_send(self, message: Message) -> None:
        self._check()
        self.sends.append(message)

    def add_settlement(self, sub: Subscription, tags: list[int], outcome: Outcome) -> int:
        """Take the deliveries out of flight now (their credit comes back at once, as JMS
        transacted consumers expect); apply the outcome at commit."""
        self._check()
        taken: list[tuple[int, Entry]] = []
        for t in tags:
            e = sub.in_flight.pop(t, None)
            if e is not None:
                taken.append((t, e))
        if taken:
            self.settlements.append((sub, taken, outcome))
            if sub.spec.credit_mode == "prefetch":
                sub.credit += len(taken)
                sub.queue.wakeup()
        return len(taken)

    def commit(self) -> Completion:
        self._check()
        self.state = "committed"
        broker = self.session.broker
        ops: list[StoreOp] = []
        for message in self.sends:
            broker.route(message, ops, self.session.connection)
        for sub, taken, outcome in self.settlements:
            sub.apply_outcome([e for _, e in taken], outcome, ops)
        self.sends.clear()
        self.settlements.clear()
        self.session._tx_done(self)
        return broker.submit(ops)

    def rollback(self, redeliver: bool = True) -> None:
        """Drop the sends. Settled deliveries go back to their queue marked redelivered
        (``redeliver``), or back in flight to their subscription, still unsettled."""
        if self.state != "active":
            return
        self.state = "rolled back"
        for sub, taken, _ in self.settlements:
            if redeliver or sub.closed:
                sub.queue.redeliver([e for _, e in taken], True, [], False)
            else:
                for t, e in taken:
                    sub.in_flight[t] = e
                if sub.spec.credit_mode == "prefetch":
                    sub.credit -= len(taken)
        self.sends.clear()
        self.settlements.clear()
        self.session._tx_done(self)
