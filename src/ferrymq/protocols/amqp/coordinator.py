"""The transaction coordinator (part 4): a client's sender link whose target is a
``coordinator``. ``declare`` starts a core transaction and answers ``declared(txn-id)``;
``discharge`` commits it (accepted once the commit is durable) or, with ``fail``, rolls it
back. Transactional transfers and dispositions name the transaction in a
``transactional-state``; the adapter resolves it with :meth:`AmqpAdapter.transaction`.
Transaction ids are scoped to the connection, as the spec asks.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from ferrymq.core import Completion, CoreError
from ferrymq.protocols.amqp.connection import (
    ACCEPTED_STATE,
    DECODE_ERROR,
    TX_ROLLBACK,
    TX_UNKNOWN,
    AmqpError,
    Session,
    core_error,
)
from ferrymq.protocols.amqp.links import IncomingLink
from ferrymq.protocols.amqp.message import BODY_VALUE, decode_message
from ferrymq.protocols.amqp.performatives import Declare, Declared, Discharge, Rejected, Transfer
from ferrymq.protocols.amqp.types import AmqpCodecError

if TYPE_CHECKING:
    from ferrymq.protocols.amqp.adapter import AmqpAdapter

_txn_ids = itertools.count(1)


class CoordinatorLink(IncomingLink):
    __slots__ = ()

    def __init__(
        self, adapter: AmqpAdapter, session: Session, name: str, handle: int, delivery_count: int
    ) -> None:
        super().__init__(adapter, session, name, handle, delivery_count)

    def received(self, first: Transfer, payload: Any) -> None:
        did = first.delivery_id
        session = self.session
        try:
            am = decode_message(bytes(payload))
            if am.body_kind != BODY_VALUE or not isinstance(am.body, Declare | Discharge):
                raise AmqpError(
                    DECODE_ERROR, "a coordinator transfer must carry a declare or a discharge", "link"
                )
            if isinstance(am.body, Declare):
                if am.body.global_id is not None:
                    raise AmqpError(
                        "amqp:not-implemented", "distributed transactions are not supported", "link"
                    )
                txn_id = f"{self.adapter.conn_label}:{next(_txn_ids)}".encode()
                assert self.adapter.core_session is not None
                self.adapter.core_session.begin(txn_id)
                session.dispose(did, Declared(txn_id=txn_id))
                return
            discharge: Discharge = am.body
            tx = self.adapter.transaction(discharge.txn_id)
            if discharge.fail:
                tx.rollback(redeliver=True)
                session.dispose(did, ACCEPTED_STATE)
                return
            c = tx.commit()

            def done(c: Completion) -> None:
                if c.ok:
                    session.dispose(did, ACCEPTED_STATE)
                else:
                    err = AmqpError(TX_ROLLBACK, f"the commit failed: {c.error}")
                    session.dispose(did, Rejected(error=err.error()))

            c.add_callback(done)
        except AmqpCodecError as e:
            session.dispose(did, Rejected(error=AmqpError(e.condition, e.message).error()))
        except AmqpError as e:
            session.dispose(did, Rejected(error=e.error()))
        except CoreError as e:
            err = core_error(e)
            if "not active" in e.message:
                err = AmqpError(TX_UNKNOWN, e.message).error()
            session.dispose(did, Rejected(error=err))


__all__ = ["CoordinatorLink"]
