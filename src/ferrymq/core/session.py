"""ClientSession: the JMS-shaped unit adapters send, subscribe and settle through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrymq.core.completion import DONE, Completion
from ferrymq.core.delivery import Outcome
from ferrymq.core.errors import IllegalState, InvalidRequest
from ferrymq.core.message import Message
from ferrymq.core.names import DestinationName
from ferrymq.core.ports import READ, WRITE, StoreOp
from ferrymq.core.subscription import DeliverySink, Subscription, SubscriptionSpec
from ferrymq.core.transaction import Transaction

if TYPE_CHECKING:
    from ferrymq.core.broker import Broker
    from ferrymq.core.connection import ClientConnection


class ClientSession:
    def __init__(self, connection: ClientConnection, session_id: int) -> None:
        self.connection = connection
        self.broker: Broker = connection.broker
        self.id = session_id
        self.subscriptions: dict[int, Subscription] = {}
        self.transactions: dict[object, Transaction] = {}
        self.closed = False

    # -- producing ----------------------------------------------------------------------
    def send(self, message: Message, tx: Transaction | None = None) -> Completion:
        """Route ``message``; the completion resolves when it is durable (at once for
        non-persistent messages). In a transaction nothing happens before commit."""
        if self.closed:
            raise IllegalState("session is closed")
        conn = self.connection
        dest = message.destination
        if dest is not conn.last_write_allowed:
            conn.check(WRITE, dest)
            conn.last_write_allowed = dest
        if message.producer_key is None:
            message.producer_key = conn
        if conn.principal is not None and message.user_id is None and self.broker.populate_user_id:
            message.user_id = conn.principal.username
        if tx is not None:
            tx.add_send(message)
            return DONE
        return self.broker.send(message, conn)

    def add_producer(self, dest: DestinationName) -> None:
        """Register a producer (OpenWire ProducerInfo, AMQP sender link) for advisories and stats."""
        self.connection.check(WRITE, dest)
        self.broker.add_producer(self.connection, dest)

    def remove_producer(self, dest: DestinationName) -> None:
        self.broker.remove_producer(self.connection, dest)

    # -- consuming ----------------------------------------------------------------------
    def subscribe(self, spec: SubscriptionSpec, sink: DeliverySink) -> Subscription:
        if self.closed:
            raise IllegalState("session is closed")
        conn = self.connection
        conn.check(READ, spec.destination)
        limit = conn.max_subscriptions
        if limit and conn.subscription_count() >= limit:
            from ferrymq.core.errors import ResourceLimit

            raise ResourceLimit(f"this connection already holds {limit} subscriptions")
        sub = self.broker._subscribe(self, spec, sink)
        self.subscriptions[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self.subscriptions.pop(sub.id, None)
        sub.close()

    def settle(self, sub: Subscription, tags: list[int], outcome: Outcome,
               tx: Transaction | None = None) -> Completion:
        if tx is not None:
            tx.add_settlement(sub, tags, outcome)
            return DONE
        ops: list[StoreOp] = []
        sub.settle_tags(tags, outcome, ops)
        return self.broker.submit(ops)

    def browse(self, destination: DestinationName, selector: str | None = None) -> list[Message]:
        self.connection.check(READ, destination)
        return self.broker.admin.browse(destination, selector)

    # -- transactions ---------------------------------------------------------------------
    def begin(self, tx_id: object) -> Transaction:
        if tx_id in self.transactions:
            raise InvalidRequest(f"transaction {tx_id} is already active")
        tx = Transaction(self, tx_id)
        self.transactions[tx_id] = tx
        return tx

    def transaction(self, tx_id: object) -> Transaction:
        tx = self.transactions.get(tx_id)
        if tx is None:
            raise InvalidRequest(f"transaction {tx_id} is not active")
        return tx

    def _tx_done(self, tx: Transaction) -> None:
        self.transactions.pop(tx.tx_id, None)

    def remove_durable(self, client_id: str, name: str) -> Completion:
        return self.broker.remove_durable(client_id, name)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for tx in list(self.transactions.values()):
            tx.rollback(redeliver=True)
        for sub in list(self.subscriptions.values()):
            sub.close()
        self.subscriptions.clear()
