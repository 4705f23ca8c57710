"""The OpenWire command table: every data structure, its type code and its ordered fields.

OpenWire (the ActiveMQ 5.x JMS client's wire protocol) marshals each command as a type
byte followed by its fields in a fixed order that depends on the negotiated protocol
version. This module describes that order as data; :mod:`.codec` holds one generic tight
and one generic loose marshaller driven by :data:`TABLE`.

Field kinds (how a field is put on the wire, loose / tight):

``BOOLEAN``        1 byte / 1 bit in the command's boolean stream
``BYTE``           1 signed byte
``CHAR``           2 bytes, one UTF-16 code unit
``SHORT``          2-byte signed big-endian
``INT``            4-byte signed big-endian
``LONG``           8 bytes / 2 bits choosing 0, 2, 4 or 8 bytes (2 and 4 read unsigned)
``STRING``         null flag + 2-byte length + modified UTF-8 / null bit + ASCII bit +
                   2-byte length + ASCII bytes or modified UTF-8
``BYTES``          null flag + 4-byte length + bytes (a Java ``byte[]``)
``BYTE_SEQUENCE``  same wire form as ``BYTES`` (a Java ``ByteSequence``)
``CONST_BYTES``    exactly ``size`` raw bytes (the WireFormatInfo magic)
``NESTED``         null flag + type byte + the nested structure
``CACHED``         as ``NESTED`` without a cache; with one: "new" flag + 2-byte cache
                   index, followed by the nested structure only when new
``OBJECT_ARRAY``   null flag + 2-byte count + that many ``NESTED`` values
``THROWABLE``      null flag + class name + message (+ stack trace and cause when
                   stack traces are enabled); decoded to :class:`ThrowableInfo`, never to a
                   Java object

Every field carries the protocol version that introduced it (``since``) and, for the one
field that was later dropped, the last version that had it (``until``). Field and class
names are the ActiveMQ property names in snake_case, including their historic spellings
(``subcription_name``, ``recieved_by_df_bridge``).

Data structures are generated from the table at import time as slotted classes
(``ConsumerInfo``, ``MessageAck``, ``ActiveMQTextMessage`` ...), with value equality and
a hash over their fields so that identifiers can key dictionaries and the marshal cache.
"""

from __future__ import annotations

import enum
import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ferrymq.protocols.errors import CodecError

__all__ = [
    "CodecError",
    "OpenWireCodecError",
    "Kind",
    "FieldSpec",
    "TypeSpec",
    "TABLE",
    "TYPES_BY_NAME",
    "CLASSES",
    "MIN_VERSION",
    "MAX_VERSION",
    "DataStructure",
    "ThrowableInfo",
    "StackTraceElement",
    "fields_for",
    "type_known",
    "class_for",
]

MIN_VERSION = 1
MAX_VERSION = 12
MAGIC = b"ActiveMQ"


class OpenWireCodecError(CodecError):
    """Bytes that are not valid OpenWire, or a value that OpenWire cannot carry.

    Raised by every decoder in this package for bad peer bytes (``fatal=True``: the stream
    cannot be resynchronised). Encoders raise it with ``fatal=False`` for values that cannot
    be represented (a string too long for its field, an integer out of range ...).
    ``commands`` holds what the failing ``feed`` call decoded before the bad bytes.
    """

    def __init__(self, message: str, *, fatal: bool = True, code: object = None) -> None:
        super().__init__(message, fatal=fatal, code=code)
        self.commands: list[Any] = []


class Kind(enum.Enum):
    BOOLEAN = "boolean"
    BYTE = "byte"
    CHAR = "char"
    SHORT = "short"
    INT = "int"
    LONG = "long"
    STRING = "string"
    BYTES = "bytes"
    BYTE_SEQUENCE = "byte-sequence"
    CONST_BYTES = "const-bytes"
    NESTED = "nested"
    CACHED = "cached"
    OBJECT_ARRAY = "object-array"
    THROWABLE = "throwable"


# -- type codes (CommandTypes) -------------------------------------------------------------

NULL = 0
WIREFORMAT_INFO = 1
BROKER_INFO = 2
CONNECTION_INFO = 3
SESSION_INFO = 4
CONSUMER_INFO = 5
PRODUCER_INFO = 6
TRANSACTION_INFO = 7
DESTINATION_INFO = 8
REMOVE_SUBSCRIPTION_INFO = 9
KEEP_ALIVE_INFO = 10
SHUTDOWN_INFO = 11
REMOVE_INFO = 12
CONTROL_COMMAND = 14
FLUSH_COMMAND = 15
CONNECTION_ERROR = 16
CONSUMER_CONTROL = 17
CONNECTION_CONTROL = 18
PRODUCER_ACK = 19
MESSAGE_PULL = 20
MESSAGE_DISPATCH = 21
MESSAGE_ACK = 22
ACTIVEMQ_MESSAGE = 23
ACTIVEMQ_BYTES_MESSAGE = 24
ACTIVEMQ_MAP_MESSAGE = 25
ACTIVEMQ_OBJECT_MESSAGE = 26
ACTIVEMQ_STREAM_MESSAGE = 27
ACTIVEMQ_TEXT_MESSAGE = 28
ACTIVEMQ_BLOB_MESSAGE = 29
RESPONSE = 30
EXCEPTION_RESPONSE = 31
DATA_RESPONSE = 32
DATA_ARRAY_RESPONSE = 33
INTEGER_RESPONSE = 34
DISCOVERY_EVENT = 40
JOURNAL_ACK = 50
JOURNAL_REMOVE = 52
JOURNAL_TRACE = 53
JOURNAL_TRANSACTION = 54
DURABLE_SUBSCRIPTION_INFO = 55
PARTIAL_COMMAND = 60
PARTIAL_LAST_COMMAND = 61
REPLAY = 65
# 70..79 name primitive types in ActiveMQ's own tables; no marshaller exists for them.
BYTE_TYPE = 70
CHAR_TYPE = 71
SHORT_TYPE = 72
INTEGER_TYPE = 73
LONG_TYPE = 74
DOUBLE_TYPE = 75
FLOAT_TYPE = 76
STRING_TYPE = 77
BOOLEAN_TYPE = 78
BYTE_ARRAY_TYPE = 79
MESSAGE_DISPATCH_NOTIFICATION = 90
NETWORK_BRIDGE_FILTER = 91
BROKER_SUBSCRIPTION_INFO = 92
ACTIVEMQ_QUEUE = 100
ACTIVEMQ_TOPIC = 101
ACTIVEMQ_TEMP_QUEUE = 102
ACTIVEMQ_TEMP_TOPIC = 103
MESSAGE_ID = 110
ACTIVEMQ_LOCAL_TRANSACTION_ID = 111
ACTIVEMQ_XA_TRANSACTION_ID = 112
CONNECTION_ID = 120
SESSION_ID = 121
CONSUMER_ID = 122
PRODUCER_ID = 123
BROKER_ID = 124

# MessageAck.ack_type values
DELIVERED_ACK_TYPE = 0
STANDARD_ACK_TYPE = 2
POISON_ACK_TYPE = 1
REDELIVERED_ACK_TYPE = 3
INDIVIDUAL_ACK_TYPE = 4
UNMATCHED_ACK_TYPE = 5
EXPIRED_ACK_TYPE = 6

# DestinationInfo.operation_type / TransactionInfo.type values
ADD_OPERATION_TYPE = 0
REMOVE_OPERATION_TYPE = 1
TX_BEGIN = 0
TX_PREPARE = 1
TX_COMMIT_ONE_PHASE = 2
TX_COMMIT_TWO_PHASE = 3
TX_ROLLBACK = 4
TX_RECOVER = 5
TX_FORGET = 6
TX_END = 7


# -- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One marshalled field. ``ref`` names the class a nested value must be an instance of."""

    name: str
    kind: Kind
    since: int = 1
    until: int | None = None
    ref: str | None = None
    size: int = 0

    def in_version(self, version: int) -> bool:
        return self.since <= version and (self.until is None or version <= self.until)


@dataclass(frozen=True)
class TypeSpec:
    """A data structure: its wire code (``None`` for abstract bases), base and own fields."""

    name: str
    code: int | None
    base: str | None
    fields: tuple[FieldSpec, ...] = ()
    since: int = 1
    marshall_aware: bool = False
    doc: str = ""
    defaults: dict[str, Any] = field(default_factory=dict)


def _f(
    name: str, kind: Kind, since: int = 1, *, until: int | None = None, ref: str | None = None, size: int = 0
) -> FieldSpec:
    return FieldSpec(name, kind, since, until, ref, size)


B, BY, INT, L, S = Kind.BOOLEAN, Kind.BYTE, Kind.INT, Kind.LONG, Kind.STRING
BA, SEQ, NEST, CACHE, ARR, THR = (
    Kind.BYTES,
    Kind.BYTE_SEQUENCE,
    Kind.NESTED,
    Kind.CACHED,
    Kind.OBJECT_ARRAY,
    Kind.THROWABLE,
)

_SPECS: list[TypeSpec] = [
    # abstract bases
    TypeSpec("DataStructure", None, None, doc="root of every marshalled structure"),
    TypeSpec(
        "Command",
        None,
        "DataStructure",
        (_f("command_id", INT), _f("response_required", B)),
        doc="BaseCommand: every command carries an id and a response-required flag",
    ),
    TypeSpec(
        "Message",
        None,
        "Command",
        (
            _f("producer_id", CACHE, ref="ProducerId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("transaction_id", CACHE, ref="TransactionId"),
            _f("original_destination", CACHE, ref="ActiveMQDestination"),
            _f("message_id", NEST, ref="MessageId"),
            _f("original_transaction_id", CACHE, ref="TransactionId"),
            _f("group_id", S),
            _f("group_sequence", INT),
            _f("correlation_id", S),
            _f("persistent", B),
            _f("expiration", L),
            _f("priority", BY),
            _f("reply_to", NEST, ref="ActiveMQDestination"),
            _f("timestamp", L),
            _f("type", S),
            _f("content", SEQ),
            _f("marshalled_properties", SEQ),
            _f("data_structure", NEST),
            _f("target_consumer_id", CACHE, ref="ConsumerId"),
            _f("compressed", B),
            _f("redelivery_counter", INT),
            _f("broker_path", ARR, ref="BrokerId"),
            _f("arrival", L),
            _f("user_id", S),
            _f("recieved_by_df_bridge", B),
            _f("droppable", B, 2),
            _f("cluster", ARR, 3, ref="BrokerId"),
            _f("broker_in_time", L, 3),
            _f("broker_out_time", L, 3),
            _f("jmsx_group_first_for_consumer", B, 10),
        ),
        marshall_aware=True,
        doc="a JMS message; the body is `content`, the properties `marshalled_properties`",
        defaults={"priority": 4},
    ),
    TypeSpec("ActiveMQDestination", None, "DataStructure", (_f("physical_name", S),)),
    TypeSpec("ActiveMQTempDestination", None, "ActiveMQDestination"),
    TypeSpec("TransactionId", None, "DataStructure"),
    TypeSpec("Response", RESPONSE, "Command", (_f("correlation_id", INT),)),
    # commands
    TypeSpec(
        "WireFormatInfo",
        WIREFORMAT_INFO,
        "DataStructure",
        (_f("magic", Kind.CONST_BYTES, size=8), _f("version", INT), _f("marshalled_properties", SEQ)),
        marshall_aware=True,
        doc="first command each side sends; always encoded loose with a size prefix",
        defaults={"magic": MAGIC},
    ),
    TypeSpec(
        "BrokerInfo",
        BROKER_INFO,
        "Command",
        (
            _f("broker_id", CACHE, ref="BrokerId"),
            _f("broker_url", S),
            _f("peer_broker_infos", ARR, ref="BrokerInfo"),
            _f("broker_name", S),
            _f("slave_broker", B),
            _f("master_broker", B),
            _f("fault_tolerant_configuration", B),
            _f("duplex_connection", B, 2),
            _f("network_connection", B, 2),
            _f("connection_id", L, 2),
            _f("broker_upload_url", S, 3),
            _f("network_properties", S, 3),
        ),
    ),
    TypeSpec(
        "ConnectionInfo",
        CONNECTION_INFO,
        "Command",
        (
            _f("connection_id", CACHE, ref="ConnectionId"),
            _f("client_id", S),
            _f("password", S),
            _f("user_name", S),
            _f("broker_path", ARR, ref="BrokerId"),
            _f("broker_master_connector", B),
            _f("manageable", B),
            _f("client_master", B, 2),
            _f("fault_tolerant", B, 6),
            _f("failover_reconnect", B, 6),
            _f("client_ip", S, 8),
        ),
    ),
    TypeSpec("SessionInfo", SESSION_INFO, "Command", (_f("session_id", CACHE, ref="SessionId"),)),
    TypeSpec(
        "ConsumerInfo",
        CONSUMER_INFO,
        "Command",
        (
            _f("consumer_id", CACHE, ref="ConsumerId"),
            _f("browser", B),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("prefetch_size", INT),
            _f("maximum_pending_message_limit", INT),
            _f("dispatch_async", B),
            _f("selector", S),
            _f("client_id", S, 10),
            _f("subscription_name", S),
            _f("no_local", B),
            _f("exclusive", B),
            _f("retroactive", B),
            _f("priority", BY),
            _f("broker_path", ARR, ref="BrokerId"),
            _f("additional_predicate", NEST),
            _f("network_subscription", B),
            _f("optimized_acknowledge", B),
            _f("no_range_acks", B),
            _f("network_consumer_path", ARR, 4, ref="ConsumerId"),
        ),
    ),
    TypeSpec(
        "ProducerInfo",
        PRODUCER_INFO,
        "Command",
        (
            _f("producer_id", CACHE, ref="ProducerId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("broker_path", ARR, ref="BrokerId"),
            _f("dispatch_async", B, 2),
            _f("window_size", INT, 3),
        ),
    ),
    TypeSpec(
        "TransactionInfo",
        TRANSACTION_INFO,
        "Command",
        (
            _f("connection_id", CACHE, ref="ConnectionId"),
            _f("transaction_id", CACHE, ref="TransactionId"),
            _f("type", BY),
        ),
    ),
    TypeSpec(
        "DestinationInfo",
        DESTINATION_INFO,
        "Command",
        (
            _f("connection_id", CACHE, ref="ConnectionId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("operation_type", BY),
            _f("timeout", L),
            _f("broker_path", ARR, ref="BrokerId"),
        ),
    ),
    TypeSpec(
        "RemoveSubscriptionInfo",
        REMOVE_SUBSCRIPTION_INFO,
        "Command",
        (_f("connection_id", CACHE, ref="ConnectionId"), _f("subcription_name", S), _f("client_id", S)),
    ),
    TypeSpec("KeepAliveInfo", KEEP_ALIVE_INFO, "Command"),
    TypeSpec("ShutdownInfo", SHUTDOWN_INFO, "Command"),
    TypeSpec(
        "RemoveInfo",
        REMOVE_INFO,
        "Command",
        (_f("object_id", CACHE), _f("last_delivered_sequence_id", L, 5)),
    ),
    TypeSpec("ControlCommand", CONTROL_COMMAND, "Command", (_f("command", S),)),
    TypeSpec("FlushCommand", FLUSH_COMMAND, "Command"),
    TypeSpec(
        "ConnectionError",
        CONNECTION_ERROR,
        "Command",
        (_f("exception", THR), _f("connection_id", NEST, ref="ConnectionId")),
    ),
    TypeSpec(
        "ConsumerControl",
        CONSUMER_CONTROL,
        "Command",
        (
            _f("destination", NEST, 6, ref="ActiveMQDestination"),
            _f("close", B),
            _f("consumer_id", NEST, ref="ConsumerId"),
            _f("prefetch", INT),
            _f("flush", B, 2),
            _f("start", B, 2),
            _f("stop", B, 2),
        ),
    ),
    TypeSpec(
        "ConnectionControl",
        CONNECTION_CONTROL,
        "Command",
        (
            _f("close", B),
            _f("exit", B),
            _f("fault_tolerant", B),
            _f("resume", B),
            _f("suspend", B),
            _f("connected_brokers", S, 6),
            _f("reconnect_to", S, 6),
            _f("rebalance_connection", B, 6),
            _f("token", BA, 8),
        ),
    ),
    TypeSpec(
        "ProducerAck",
        PRODUCER_ACK,
        "Command",
        (_f("producer_id", NEST, ref="ProducerId"), _f("size", INT)),
        since=3,
    ),
    TypeSpec(
        "MessagePull",
        MESSAGE_PULL,
        "Command",
        (
            _f("consumer_id", CACHE, ref="ConsumerId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("timeout", L),
            _f("correlation_id", S, 3),
            _f("message_id", NEST, 3, ref="MessageId"),
        ),
        since=2,
    ),
    TypeSpec(
        "MessageDispatch",
        MESSAGE_DISPATCH,
        "Command",
        (
            _f("consumer_id", CACHE, ref="ConsumerId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("message", NEST, ref="Message"),
            _f("redelivery_counter", INT),
        ),
    ),
    TypeSpec(
        "MessageAck",
        MESSAGE_ACK,
        "Command",
        (
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("transaction_id", CACHE, ref="TransactionId"),
            _f("consumer_id", CACHE, ref="ConsumerId"),
            _f("ack_type", BY),
            _f("first_message_id", NEST, ref="MessageId"),
            _f("last_message_id", NEST, ref="MessageId"),
            _f("message_count", INT),
            _f("poison_cause", THR, 7),
        ),
    ),
    TypeSpec("ActiveMQMessage", ACTIVEMQ_MESSAGE, "Message", marshall_aware=True),
    TypeSpec("ActiveMQBytesMessage", ACTIVEMQ_BYTES_MESSAGE, "ActiveMQMessage", marshall_aware=True),
    TypeSpec("ActiveMQMapMessage", ACTIVEMQ_MAP_MESSAGE, "ActiveMQMessage", marshall_aware=True),
    TypeSpec("ActiveMQObjectMessage", ACTIVEMQ_OBJECT_MESSAGE, "ActiveMQMessage", marshall_aware=True),
    TypeSpec("ActiveMQStreamMessage", ACTIVEMQ_STREAM_MESSAGE, "ActiveMQMessage", marshall_aware=True),
    TypeSpec("ActiveMQTextMessage", ACTIVEMQ_TEXT_MESSAGE, "ActiveMQMessage", marshall_aware=True),
    TypeSpec(
        "ActiveMQBlobMessage",
        ACTIVEMQ_BLOB_MESSAGE,
        "ActiveMQMessage",
        (_f("remote_blob_url", S), _f("mime_type", S), _f("deleted_by_broker", B)),
        since=3,
        marshall_aware=True,
    ),
    TypeSpec("ExceptionResponse", EXCEPTION_RESPONSE, "Response", (_f("exception", THR),)),
    TypeSpec("DataResponse", DATA_RESPONSE, "Response", (_f("data", NEST),)),
    TypeSpec("DataArrayResponse", DATA_ARRAY_RESPONSE, "Response", (_f("data", ARR),)),
    TypeSpec("IntegerResponse", INTEGER_RESPONSE, "Response", (_f("result", INT),)),
    TypeSpec(
        "DiscoveryEvent", DISCOVERY_EVENT, "DataStructure", (_f("service_name", S), _f("broker_name", S))
    ),
    TypeSpec(
        "JournalTopicAck",
        JOURNAL_ACK,
        "DataStructure",
        (
            _f("destination", NEST, ref="ActiveMQDestination"),
            _f("message_id", NEST, ref="MessageId"),
            _f("message_sequence_id", L),
            _f("subscrition_name", S),
            _f("client_id", S),
            _f("transaction_id", NEST, ref="TransactionId"),
        ),
    ),
    TypeSpec(
        "JournalQueueAck",
        JOURNAL_REMOVE,
        "DataStructure",
        (_f("destination", NEST, ref="ActiveMQDestination"), _f("message_ack", NEST, ref="MessageAck")),
    ),
    TypeSpec("JournalTrace", JOURNAL_TRACE, "DataStructure", (_f("message", S),)),
    TypeSpec(
        "JournalTransaction",
        JOURNAL_TRANSACTION,
        "DataStructure",
        (_f("transaction_id", NEST, ref="TransactionId"), _f("type", BY), _f("was_prepared", B)),
    ),
    TypeSpec(
        "SubscriptionInfo",
        DURABLE_SUBSCRIPTION_INFO,
        "DataStructure",
        (
            _f("client_id", S),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("selector", S),
            _f("subcription_name", S),
            _f("subscribed_destination", NEST, 3, ref="ActiveMQDestination"),
            _f("no_local", B, 11),
        ),
    ),
    TypeSpec("PartialCommand", PARTIAL_COMMAND, "DataStructure", (_f("command_id", INT), _f("data", BA))),
    TypeSpec("LastPartialCommand", PARTIAL_LAST_COMMAND, "PartialCommand"),
    TypeSpec("ReplayCommand", REPLAY, "Command", (_f("first_nak_number", INT), _f("last_nak_number", INT))),
    TypeSpec(
        "MessageDispatchNotification",
        MESSAGE_DISPATCH_NOTIFICATION,
        "Command",
        (
            _f("consumer_id", CACHE, ref="ConsumerId"),
            _f("destination", CACHE, ref="ActiveMQDestination"),
            _f("delivery_sequence_id", L),
            _f("message_id", NEST, ref="MessageId"),
        ),
    ),
    TypeSpec(
        "NetworkBridgeFilter",
        NETWORK_BRIDGE_FILTER,
        "DataStructure",
        (
            _f("network_ttl", INT, until=9),
            _f("network_broker_id", CACHE, ref="BrokerId"),
            _f("message_ttl", INT, 10),
            _f("consumer_ttl", INT, 10),
        ),
    ),
    TypeSpec(
        "BrokerSubscriptionInfo",
        BROKER_SUBSCRIPTION_INFO,
        "Command",
        (
            _f("broker_id", NEST, ref="BrokerId"),
            _f("broker_name", S),
            _f("subscription_infos", ARR, ref="ConsumerInfo"),
        ),
        since=12,
    ),
    # destinations
    TypeSpec("ActiveMQQueue", ACTIVEMQ_QUEUE, "ActiveMQDestination"),
    TypeSpec("ActiveMQTopic", ACTIVEMQ_TOPIC, "ActiveMQDestination"),
    TypeSpec("ActiveMQTempQueue", ACTIVEMQ_TEMP_QUEUE, "ActiveMQTempDestination"),
    TypeSpec("ActiveMQTempTopic", ACTIVEMQ_TEMP_TOPIC, "ActiveMQTempDestination"),
    # identifiers
    TypeSpec(
        "MessageId",
        MESSAGE_ID,
        "DataStructure",
        (
            _f("text_view", S, 10),
            _f("producer_id", CACHE, ref="ProducerId"),
            _f("producer_sequence_id", L),
            _f("broker_sequence_id", L),
        ),
    ),
    TypeSpec(
        "LocalTransactionId",
        ACTIVEMQ_LOCAL_TRANSACTION_ID,
        "TransactionId",
        (_f("value", L), _f("connection_id", CACHE, ref="ConnectionId")),
    ),
    TypeSpec(
        "XATransactionId",
        ACTIVEMQ_XA_TRANSACTION_ID,
        "TransactionId",
        (_f("format_id", INT), _f("global_transaction_id", BA), _f("branch_qualifier", BA)),
    ),
    TypeSpec("ConnectionId", CONNECTION_ID, "DataStructure", (_f("value", S),)),
    TypeSpec("SessionId", SESSION_ID, "DataStructure", (_f("connection_id", S), _f("value", L))),
    TypeSpec(
        "ConsumerId",
        CONSUMER_ID,
        "DataStructure",
        (_f("connection_id", S), _f("session_id", L), _f("value", L)),
    ),
    TypeSpec(
        "ProducerId",
        PRODUCER_ID,
        "DataStructure",
        (_f("connection_id", S), _f("value", L), _f("session_id", L)),
    ),
    TypeSpec("BrokerId", BROKER_ID, "DataStructure", (_f("value", S),)),
]

TYPES_BY_NAME: dict[str, TypeSpec] = {t.name: t for t in _SPECS}
TABLE: dict[int, TypeSpec] = {t.code: t for t in _SPECS if t.code is not None}


def _chain(name: str) -> list[TypeSpec]:
    chain: list[TypeSpec] = []
    cur: str | None = name
    while cur is not None:
        spec = TYPES_BY_NAME[cur]
        chain.append(spec)
        cur = spec.base
    chain.reverse()
    return chain


def _all_fields(name: str) -> tuple[FieldSpec, ...]:
    return tuple(f for spec in _chain(name) for f in spec.fields)


_FIELDS_CACHE: dict[tuple[int, int], tuple[FieldSpec, ...]] = {}


def type_known(code: int, version: int) -> bool:
    spec = TABLE.get(code)
    return spec is not None and spec.since <= version


def fields_for(code: int, version: int) -> tuple[FieldSpec, ...]:
    """The ordered wire fields of type ``code`` in protocol ``version`` (base fields first)."""
    key = (code, version)
    got = _FIELDS_CACHE.get(key)
    if got is None:
        spec = TABLE[code]
        got = tuple(f for f in _all_fields(spec.name) if f.in_version(version))
        _FIELDS_CACHE[key] = got
    return got


# -- value types ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StackTraceElement:
    class_name: str | None
    method_name: str | None
    file_name: str | None
    line_number: int


@dataclass(frozen=True)
class ThrowableInfo:
    """A Java throwable as OpenWire carries it: names and text only, never a Java object."""

    class_name: str | None
    message: str | None
    stack_trace: tuple[StackTraceElement, ...] = ()
    cause: ThrowableInfo | None = None

    def __str__(self) -> str:
        return f"{self.class_name}: {self.message}" if self.message is not None else str(self.class_name)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, DataStructure):
        return value._key()
    if isinstance(value, bytearray | memoryview):
        return bytes(value)
    return value


_DEFAULTS: dict[Kind, Any] = {
    Kind.BOOLEAN: False,
    Kind.BYTE: 0,
    Kind.CHAR: "\x00",
    Kind.SHORT: 0,
    Kind.INT: 0,
    Kind.LONG: 0,
}


#: field value types a key holds as they are (everything else goes through _freeze)
_PLAIN = frozenset((str, int, bool, type(None), float, bytes))


def _no_values(obj: Any) -> tuple[Any, ...]:
    return ()


class DataStructure:
    """Base of every generated OpenWire structure.

    Instances compare and hash by type and field values. Fields not passed to the
    constructor take their kind's zero value (``False``, ``0``, ``None``) or the table's
    default (message priority 4, the WireFormatInfo magic).
    """

    __slots__ = ()
    type_code: ClassVar[int] = NULL
    spec: ClassVar[TypeSpec]
    field_names: ClassVar[tuple[str, ...]] = ()
    _init_defaults: ClassVar[tuple[tuple[str, Any], ...]] = ()
    #: instances keep their key and hash in the ``_kc``/``_hc`` slots (see ``_KEY_CACHED``)
    _key_cached: ClassVar[bool] = False
    #: the field values as a tuple, in ``field_names`` order
    _values: ClassVar[Any] = staticmethod(_no_values)

    def __init__(self, **kwargs: Any) -> None:
        for name, default in self._init_defaults:
            object.__setattr__(self, name, kwargs.pop(name, default))
        if kwargs:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(kwargs))}")

    def __getattr__(self, name: str) -> Any:  # typing aid: generated slots are dynamic
        raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")

    def _key(self) -> tuple[Any, ...]:
        values = self._values(self)
        for v in values:
            if type(v) not in _PLAIN:
                return (self.type_code, *(_freeze(v) for v in values))
        return (self.type_code, *values)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, DataStructure)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        parts = []
        for name, default in self._init_defaults:
            value = getattr(self, name)
            if value != default or name in ("physical_name", "value"):
                parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def items(self) -> Iterator[tuple[str, Any]]:
        for name in self.field_names:
            yield name, getattr(self, name)

    @property
    def is_response(self) -> bool:
        return isinstance(self, CLASSES["Response"])


CLASSES: dict[str, type[DataStructure]] = {"DataStructure": DataStructure}

#: identifier-like structures whose key and hash are computed once and kept (in the ``_kc``
#: and ``_hc`` slots) until a field is assigned: they are hashed several times per message
_KEY_CACHED = frozenset(
    (
        "MessageId",
        "ProducerId",
        "ConsumerId",
        "ConnectionId",
        "SessionId",
        "BrokerId",
        "LocalTransactionId",
        "ActiveMQDestination",
    )
)


def _cached_key(self: DataStructure) -> tuple[Any, ...]:
    try:
        key = self._kc
    except AttributeError:  # made without __init__ or a reader (e.g. unpickled)
        key = None
    if key is None:
        key = DataStructure._key(self)
        object.__setattr__(self, "_kc", key)
    return key  # type: ignore[no-any-return]


def _cached_hash(self: DataStructure) -> int:
    try:
        h = self._hc
    except AttributeError:
        h = None
    if h is None:
        h = hash(_cached_key(self))
        object.__setattr__(self, "_hc", h)
    return h  # type: ignore[no-any-return]


def _cached_init(self: DataStructure, **kwargs: Any) -> None:
    object.__setattr__(self, "_kc", None)
    object.__setattr__(self, "_hc", None)
    DataStructure.__init__(self, **kwargs)


def _uncaching_setattr(self: DataStructure, name: str, value: Any) -> None:
    object.__setattr__(self, name, value)
    if name != "_kc" and name != "_hc":
        object.__setattr__(self, "_kc", None)
        object.__setattr__(self, "_hc", None)


def _camel_ok(name: str) -> bool:
    return re.fullmatch(r"[A-Z][A-Za-z0-9]*", name) is not None


def _values_getter(names: tuple[str, ...]) -> Any:
    if not names:
        return _no_values
    if len(names) == 1:
        get = operator.attrgetter(names[0])
        return lambda obj: (get(obj),)
    return operator.attrgetter(*names)


def _build_classes() -> None:
    for spec in _SPECS:
        if spec.name == "DataStructure":
            DataStructure.spec = spec
            continue
        assert _camel_ok(spec.name)
        base = CLASSES[spec.base or "DataStructure"]
        all_fields = _all_fields(spec.name)
        names: list[str] = []
        defaults: list[tuple[str, Any]] = []
        table_defaults: dict[str, Any] = {}
        for s in _chain(spec.name):
            table_defaults.update(s.defaults)
        for f in all_fields:
            if f.name in names:
                continue
            names.append(f.name)
            defaults.append((f.name, table_defaults.get(f.name, _DEFAULTS.get(f.kind))))
        inherited = set(base.field_names)
        ns: dict[str, Any] = {
            "__slots__": tuple(n for n in names if n not in inherited),
            "type_code": spec.code if spec.code is not None else NULL,
            "spec": spec,
            "field_names": tuple(names),
            "_init_defaults": tuple(defaults),
            "_values": staticmethod(_values_getter(tuple(names))),
            "__doc__": spec.doc or f"OpenWire {spec.name} (type {spec.code}).",
            "__module__": __name__,
        }
        if spec.name == "Message":
            # set by the shape-compiled reader (.shapes): the writer for the layout it read
            ns["__slots__"] += ("_wshape",)
        if spec.name in _KEY_CACHED:
            ns["__slots__"] += ("_kc", "_hc")
            ns["_key"] = _cached_key
            ns["__hash__"] = _cached_hash
            ns["__setattr__"] = _uncaching_setattr
            ns["__init__"] = _cached_init
            ns["_key_cached"] = True
        CLASSES[spec.name] = type(spec.name, (base,), ns)


_build_classes()


def class_for(code: int) -> type[DataStructure]:
    return CLASSES[TABLE[code].name]


# Public names for the generated classes (typed loosely: their fields are dynamic).
Command = CLASSES["Command"]
Message = CLASSES["Message"]
ActiveMQDestination = CLASSES["ActiveMQDestination"]
ActiveMQTempDestination = CLASSES["ActiveMQTempDestination"]
TransactionId = CLASSES["TransactionId"]
Response = CLASSES["Response"]
WireFormatInfo = CLASSES["WireFormatInfo"]
BrokerInfo = CLASSES["BrokerInfo"]
ConnectionInfo = CLASSES["ConnectionInfo"]
SessionInfo = CLASSES["SessionInfo"]
ConsumerInfo = CLASSES["ConsumerInfo"]
ProducerInfo = CLASSES["ProducerInfo"]
TransactionInfo = CLASSES["TransactionInfo"]
DestinationInfo = CLASSES["DestinationInfo"]
RemoveSubscriptionInfo = CLASSES["RemoveSubscriptionInfo"]
KeepAliveInfo = CLASSES["KeepAliveInfo"]
ShutdownInfo = CLASSES["ShutdownInfo"]
RemoveInfo = CLASSES["RemoveInfo"]
ControlCommand = CLASSES["ControlCommand"]
FlushCommand = CLASSES["FlushCommand"]
ConnectionError = CLASSES["ConnectionError"]  # the spec's name; shadows the builtin here only
ConsumerControl = CLASSES["ConsumerControl"]
ConnectionControl = CLASSES["ConnectionControl"]
ProducerAck = CLASSES["ProducerAck"]
MessagePull = CLASSES["MessagePull"]
MessageDispatch = CLASSES["MessageDispatch"]
MessageAck = CLASSES["MessageAck"]
ActiveMQMessage = CLASSES["ActiveMQMessage"]
ActiveMQBytesMessage = CLASSES["ActiveMQBytesMessage"]
ActiveMQMapMessage = CLASSES["ActiveMQMapMessage"]
ActiveMQObjectMessage = CLASSES["ActiveMQObjectMessage"]
ActiveMQStreamMessage = CLASSES["ActiveMQStreamMessage"]
ActiveMQTextMessage = CLASSES["ActiveMQTextMessage"]
ActiveMQBlobMessage = CLASSES["ActiveMQBlobMessage"]
ExceptionResponse = CLASSES["ExceptionResponse"]
DataResponse = CLASSES["DataResponse"]
DataArrayResponse = CLASSES["DataArrayResponse"]
IntegerResponse = CLASSES["IntegerResponse"]
DiscoveryEvent = CLASSES["DiscoveryEvent"]
JournalTopicAck = CLASSES["JournalTopicAck"]
JournalQueueAck = CLASSES["JournalQueueAck"]
JournalTrace = CLASSES["JournalTrace"]
JournalTransaction = CLASSES["JournalTransaction"]
SubscriptionInfo = CLASSES["SubscriptionInfo"]
PartialCommand = CLASSES["PartialCommand"]
LastPartialCommand = CLASSES["LastPartialCommand"]
ReplayCommand = CLASSES["ReplayCommand"]
MessageDispatchNotification = CLASSES["MessageDispatchNotification"]
NetworkBridgeFilter = CLASSES["NetworkBridgeFilter"]
BrokerSubscriptionInfo = CLASSES["BrokerSubscriptionInfo"]
ActiveMQQueue = CLASSES["ActiveMQQueue"]
ActiveMQTopic = CLASSES["ActiveMQTopic"]
ActiveMQTempQueue = CLASSES["ActiveMQTempQueue"]
ActiveMQTempTopic = CLASSES["ActiveMQTempTopic"]
MessageId = CLASSES["MessageId"]
LocalTransactionId = CLASSES["LocalTransactionId"]
XATransactionId = CLASSES["XATransactionId"]
ConnectionId = CLASSES["ConnectionId"]
SessionId = CLASSES["SessionId"]
ConsumerId = CLASSES["ConsumerId"]
ProducerId = CLASSES["ProducerId"]
BrokerId = CLASSES["BrokerId"]

__all__ += [name for name in CLASSES if name != "DataStructure"]
