"""The protocol-neutral broker core: synchronous, single threaded, stdlib only (R2)."""

from ferrymq.core.admin import BrokerAdmin, DestinationView
from ferrymq.core.broker import Broker, durable_key, queue_key
from ferrymq.core.completion import DONE, Completion
from ferrymq.core.connection import ClientConnection
from ferrymq.core.delivery import ACCEPTED, MODIFIED, REJECTED, RELEASED, Delivery, Outcome
from ferrymq.core.errors import (
    ClientIdInUse,
    Condition,
    CoreError,
    IllegalState,
    InvalidRequest,
    NotFound,
    ResourceLimit,
    StoreFailure,
    Unauthorized,
)
from ferrymq.core.message import (
    BYTES,
    EMPTY,
    MAP,
    OBJECT,
    STREAM,
    TEXT,
    Message,
    new_message_id,
    quick_message,
)
from ferrymq.core.names import (
    QUEUE,
    TEMP_QUEUE,
    TEMP_TOPIC,
    TOPIC,
    DestinationName,
    parse_uri,
    validate_path,
)
from ferrymq.core.policy import DeadLetterStrategy, DestinationPolicy, PolicyMap
from ferrymq.core.ports import (
    ADMIN,
    READ,
    WRITE,
    AllowAll,
    Authenticator,
    Authorizer,
    Clock,
    Credentials,
    MessageStore,
    Principal,
    Recovery,
)
from ferrymq.core.session import ClientSession
from ferrymq.core.subscription import (
    AUTO,
    CLIENT,
    CREDIT,
    PREFETCH,
    DeliverySink,
    Subscription,
    SubscriptionSpec,
)
from ferrymq.core.transaction import Transaction
from ferrymq.core.trie import SubjectTrie, pattern_matches

__all__ = [
    "ACCEPTED", "ADMIN", "AUTO", "BYTES", "CLIENT", "CREDIT", "DONE", "EMPTY", "MAP", "MODIFIED", "OBJECT",
    "PREFETCH", "QUEUE", "READ", "REJECTED", "RELEASED", "STREAM", "TEMP_QUEUE", "TEMP_TOPIC", "TEXT",
    "TOPIC", "WRITE", "AllowAll", "Authenticator", "Authorizer", "Broker", "BrokerAdmin", "ClientConnection",
    "ClientIdInUse", "ClientSession", "Clock", "Completion", "Condition", "CoreError", "Credentials",
    "DeadLetterStrategy", "Delivery", "DeliverySink", "DestinationName", "DestinationPolicy",
    "DestinationView", "IllegalState", "InvalidRequest", "Message", "MessageStore", "NotFound", "Outcome",
    "PolicyMap", "Principal", "Recovery", "ResourceLimit", "StoreFailure", "SubjectTrie", "Subscription",
    "SubscriptionSpec", "Transaction", "Unauthorized", "durable_key", "new_message_id", "quick_message", "parse_uri",
    "pattern_matches", "queue_key", "validate_path",
]
