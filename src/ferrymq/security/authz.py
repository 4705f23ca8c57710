"""ActiveMQ-style authorization map: read/write/admin groups per destination pattern; the
union of every matching entry decides (ActiveMQ's DefaultAuthorizationMap)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ferrymq.core import ADMIN, READ, WRITE, DestinationName, Principal, SubjectTrie

EVERYONE = "everyone"


@dataclass(frozen=True)
class AuthorizationEntry:
    kind: str  # queue | topic | temp
    pattern: str
    read: frozenset[str] = field(default_factory=frozenset)
    write: frozenset[str] = field(default_factory=frozenset)
    admin: frozenset[str] = field(default_factory=frozenset)


class AuthorizationMap:
    """With no entries every authenticated user may do everything (ActiveMQ without the
    authorization plugin). Advisory topics are readable by everyone (clients need them)."""

    def __init__(self, entries: list[AuthorizationEntry] | None = None,
                 admin_groups: frozenset[str] = frozenset({"admins"})) -> None:
        self.entries = list(entries or [])
        self.admin_groups = admin_groups
        self._queue: SubjectTrie[AuthorizationEntry] = SubjectTrie()
        self._topic: SubjectTrie[AuthorizationEntry] = SubjectTrie()
        self._temp: list[AuthorizationEntry] = []
        for e in self.entries:
            if e.kind == "temp":
                self._temp.append(e)
            elif e.kind == "queue":
                self._queue.insert(e.pattern, e)
            else:
                self._topic.insert(e.pattern, e)

    def allowed(self, principal: Principal, action: str, dest: DestinationName) -> bool:
        if not self.entries or principal.admin:
            return True
        if dest.is_topic and dest.path.startswith("ActiveMQ.Advisory.") and action != WRITE:
            return True
        if dest.is_temporary:
            matches = self._temp
            if not matches:
                return True
        else:
            matches = list((self._queue if dest.is_queue else self._topic).match(dest.path))
        if not matches:
            return False
        groups = principal.groups | {EVERYONE, principal.username}
        for e in matches:
            allowed = e.read if action == READ else e.write if action == WRITE else e.admin if action == ADMIN else ()
            if groups & set(allowed):
                return True
        return False
