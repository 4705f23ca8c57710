"""Per-destination policies, ActiveMQ's policyEntry: the most specific matching entry wins."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ferrymq.core.names import QUEUE, TOPIC, DestinationName
from ferrymq.core.trie import SubjectTrie

SHARED = "shared"
INDIVIDUAL = "individual"
DISCARDING = "discarding"


@dataclass(frozen=True)
class DeadLetterStrategy:
    kind: str = SHARED  # shared | individual | discarding
    shared_queue: str = "ActiveMQ.DLQ"
    queue_prefix: str = "DLQ."
    topic_prefix: str = "DLQ."
    use_queue_for_topic_messages: bool = True
    process_expired: bool = True
    process_non_persistent: bool = False
    expiration_ms: int = 0  # DLQ messages never expire unless set

    def dlq_for(self, dest: DestinationName) -> DestinationName | None:
        if self.kind == DISCARDING:
            return None
        if self.kind == INDIVIDUAL:
            prefix = self.queue_prefix if dest.is_queue else self.topic_prefix
            return DestinationName(QUEUE, prefix + dest.path)
        return DestinationName(QUEUE, self.shared_queue)


@dataclass(frozen=True)
class DestinationPolicy:
    #: default consumer prefetch where the protocol does not say (queue 1000, topic 32767)
    queue_prefetch: int = 1000
    topic_prefetch: int = 32767
    durable_topic_prefetch: int = 100
    #: broker side redelivery limit before dead-lettering (ActiveMQ RedeliveryPolicy: 6)
    max_redeliveries: int = 6
    initial_redelivery_delay_ms: int = 0
    redelivery_backoff_multiplier: float = 5.0
    use_exponential_backoff: bool = False
    dead_letter: DeadLetterStrategy = field(default_factory=DeadLetterStrategy)
    #: seconds between expiry sweeps (ActiveMQ expireMessagesPeriod 30 s)
    expire_messages_period: float = 30.0
    #: bytes of messages held for this destination before producer flow control
    memory_limit: int = 0
    producer_flow_control: bool = True
    send_fail_if_no_space: bool = False
    #: topic subscriptions: pending messages kept for a slow non-durable subscriber
    pending_message_limit: int = 1000

    def with_changes(self, **kw: object) -> DestinationPolicy:
        return replace(self, **kw)  # type: ignore[arg-type]


DEFAULT_POLICY = DestinationPolicy()


class PolicyMap:
    def __init__(self, default: DestinationPolicy = DEFAULT_POLICY) -> None:
        self.default = default
        self._tries: dict[str, SubjectTrie[tuple[int, str, DestinationPolicy]]] = {
            QUEUE: SubjectTrie(),
            TOPIC: SubjectTrie(),
        }
        self._cache: dict[DestinationName, DestinationPolicy] = {}

    def put(self, kind: str, pattern: str, policy: DestinationPolicy) -> None:
        specificity = _specificity(pattern)
        self._tries[QUEUE if kind.startswith("queue") or kind == "temp-queue" else TOPIC].insert(
            pattern, (specificity, pattern, policy)
        )
        self._cache.clear()

    def get(self, dest: DestinationName) -> DestinationPolicy:
        hit = self._cache.get(dest)
        if hit is not None:
            return hit
        trie = self._tries[QUEUE if dest.is_queue else TOPIC]
        matches = trie.match(dest.path)
        pol = max(matches, key=lambda m: m[0])[2] if matches else self.default
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[dest] = pol
        return pol


def _specificity(pattern: str) -> int:
    """Longer literal prefixes win; '>' least, '*' less than a literal."""
    score = 0
    for seg in pattern.split("."):
        if seg == ">":
            score = score * 4 + 1
        elif seg == "*":
            score = score * 4 + 2
        else:
            score = score * 4 + 3
    return score
