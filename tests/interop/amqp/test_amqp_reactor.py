"""python-qpid-proton's reactor (event) API: transactions through the coordinator, and a
credit-window consumer."""

from __future__ import annotations

import uuid
from typing import Any

from proton import Message
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import Container
from proton.utils import BlockingConnection

from support import BrokerProcess


def url(b: BrokerProcess) -> str:
    return f"amqp://user:password@127.0.0.1:{b.ports['amqp']}"


class TxScenario(MessagingHandler, TransactionHandler):  # type: ignore[misc]
    """Send two messages in a committed transaction and one in an aborted one; then consume
    one in a committed transaction and one in an aborted one."""

    def __init__(self, address: str, plan: list[str]) -> None:
        super().__init__(prefetch=0, auto_accept=False)
        self.address = address
        self.plan = plan  # "commit" / "abort" per transaction, in order
        self.events: list[str] = []
        self.conn: Any = None
        self.sender: Any = None
        self.container: Any = None
        self.tx: Any = None

    def on_start(self, event: Any) -> None:
        self.container = event.container
        self.conn = event.container.connect(self.url_)
        self.sender = event.container.create_sender(self.conn, self.address)
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declared(self, event: Any) -> None:
        self.tx = event.transaction
        self.events.append("declared")
        what = self.plan[0]
        for i in range(2 if what == "commit" else 1):
            self.tx.send(self.sender, Message(body=f"{what}-{i}", durable=True))
        if what == "commit":
            self.tx.commit()
        else:
            self.tx.abort()

    def on_transaction_committed(self, event: Any) -> None:
        self.events.append("committed")
        self._next(event)

    def on_transaction_aborted(self, event: Any) -> None:
        self.events.append("aborted")
        self._next(event)

    def on_transaction_declare_failed(self, event: Any) -> None:
        self.events.append("declare-failed")
        self.conn.close()

    def _next(self, event: Any) -> None:
        self.plan.pop(0)
        if self.plan:
            event.container.declare_transaction(self.conn, handler=self)
        else:
            self.conn.close()


def run_tx(b: BrokerProcess, address: str, plan: list[str]) -> list[str]:
    h = TxScenario(address, list(plan))
    h.url_ = url(b)  # type: ignore[attr-defined]
    c = Container(h)
    c.timeout = 10
    c.run()
    return h.events


def test_transactional_sends_commit_and_abort(amqp_broker: BrokerProcess) -> None:
    q = f"queue://tx.{uuid.uuid4().hex[:8]}"
    events = run_tx(amqp_broker, q, ["abort", "commit"])
    assert events == ["declared", "aborted", "declared", "committed"]
    c = BlockingConnection(url(amqp_broker), timeout=10)
    r = c.create_receiver(q)
    got = sorted(r.receive(timeout=10).body for _ in range(2))
    r.accept()
    assert got == ["commit-0", "commit-1"]  # the aborted send never arrived
    c.close()


class TxConsumer(MessagingHandler, TransactionHandler):  # type: ignore[misc]
    """Accept one message inside a transaction that is aborted, then inside one that commits."""

    def __init__(self, url_: str, address: str) -> None:
        super().__init__(prefetch=0, auto_accept=False)
        self.url_ = url_
        self.address = address
        self.plan = ["abort", "commit"]
        self.events: list[str] = []
        self.receiver: Any = None
        self.tx: Any = None
        self.conn: Any = None

    def on_start(self, event: Any) -> None:
        self.conn = event.container.connect(self.url_)
        self.receiver = event.container.create_receiver(self.conn, self.address)
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declared(self, event: Any) -> None:
        self.tx = event.transaction
        self.receiver.flow(1)

    def on_message(self, event: Any) -> None:
        self.events.append(f"{self.plan[0]}:{event.message.body}")
        self.tx.accept(event.delivery)
        if self.plan[0] == "commit":
            self.tx.commit()
        else:
            self.tx.abort()

    def on_transaction_committed(self, event: Any) -> None:
        self.events.append("committed")
        self.conn.close()

    def on_transaction_aborted(self, event: Any) -> None:
        self.events.append("aborted")
        self.plan.pop(0)
        event.container.declare_transaction(self.conn, handler=self)


def test_transactional_acknowledgement(amqp_broker: BrokerProcess) -> None:
    q = f"queue://txack.{uuid.uuid4().hex[:8]}"
    c = BlockingConnection(url(amqp_broker), timeout=10)
    c.create_sender(q).send(Message(body="work", durable=True))
    h = TxConsumer(url(amqp_broker), q)
    cont = Container(h)
    cont.timeout = 10
    cont.run()
    # the abort gave the message back: it was received again and then committed
    assert h.events == ["abort:work", "aborted", "commit:work", "committed"]
    r = c.create_receiver(q)
    try:
        r.receive(timeout=0.5)
        raise AssertionError("the committed acknowledgement did not consume the message")
    except Exception as e:  # noqa: BLE001 - proton's Timeout
        assert "Timeout" in type(e).__name__ or "timed out" in str(e)
    c.close()


class Pipeline(MessagingHandler):  # type: ignore[misc]
    """Send N messages and receive them on one connection with a credit window of 10."""

    def __init__(self, url_: str, address: str, n: int) -> None:
        super().__init__(prefetch=10)
        self.url_ = url_
        self.address = address
        self.n = n
        self.sent = 0
        self.received: list[int] = []
        self.accepted = 0

    def on_start(self, event: Any) -> None:
        conn = event.container.connect(self.url_)
        event.container.create_receiver(conn, self.address)
        event.container.create_sender(conn, self.address)

    def on_sendable(self, event: Any) -> None:
        while event.sender.credit and self.sent < self.n:
            event.sender.send(Message(body=self.sent))
            self.sent += 1

    def on_accepted(self, event: Any) -> None:
        self.accepted += 1

    def on_message(self, event: Any) -> None:
        self.received.append(event.message.body)
        if len(self.received) == self.n:
            event.connection.close()


def test_reactor_pipeline_keeps_order(amqp_broker: BrokerProcess) -> None:
    h = Pipeline(url(amqp_broker), f"queue://pipe.{uuid.uuid4().hex[:8]}", 2000)
    c = Container(h)
    c.timeout = 20
    c.run()
    assert h.received == list(range(2000))
    assert h.accepted == 2000
