"""One subject trie for wildcard routing, the policy map and the authorization map (R5).

Patterns use ActiveMQ syntax: ``.`` separates segments, ``*`` matches exactly one
segment, ``>`` matches one or more trailing segments (ActiveMQ also lets ``a.>`` match
``a``; we follow ActiveMQ). Matches for literal subjects are cached and the cache is
dropped on every change (a generation counter would do the same; a dict clear is cheaper
in Python).
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class _Node(Generic[V]):
    __slots__ = ("children", "star", "gt_values", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node[V]] = {}
        self.star: _Node[V] | None = None
        self.gt_values: list[V] = []
        self.values: list[V] = []


class SubjectTrie(Generic[V]):
    def __init__(self, cache_size: int = 10_000) -> None:
        self._root: _Node[V] = _Node()
        self._cache: dict[str, tuple[V, ...]] = {}
        self._cache_size = cache_size
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def insert(self, pattern: str, value: V) -> None:
        node = self._root
        segs = pattern.split(".")
        for i, seg in enumerate(segs):
            if seg == ">" and i == len(segs) - 1:
                node.gt_values.append(value)
                self._changed(1)
                return
            if seg == "*":
                if node.star is None:
                    node.star = _Node()
                node = node.star
            else:
                nxt = node.children.get(seg)
                if nxt is None:
                    nxt = node.children[seg] = _Node()
                node = nxt
        node.values.append(value)
        self._changed(1)

    def remove(self, pattern: str, value: V) -> bool:
        path: list[tuple[_Node[V], str]] = []
        node = self._root
        segs = pattern.split(".")
        for i, seg in enumerate(segs):
            if seg == ">" and i == len(segs) - 1:
                ok = _remove_identity(node.gt_values, value)
                if ok:
                    self._changed(-1)
                    self._prune(path, node)
                return ok
            path.append((node, seg))
            nxt = node.star if seg == "*" else node.children.get(seg)
            if nxt is None:
                return False
            node = nxt
        ok = _remove_identity(node.values, value)
        if ok:
            self._changed(-1)
            self._prune(path, node)
        return ok

    def match(self, subject: str) -> tuple[V, ...]:
        """Every value whose pattern matches the literal ``subject``."""
        hit = self._cache.get(subject)
        if hit is not None:
            return hit
        out: list[V] = []
        _match(self._root, subject.split("."), 0, out)
        res = tuple(out)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[subject] = res
        return res

    def match_pattern_values(self, pattern: str) -> list[V]:
        """Values stored under exactly ``pattern`` (no wildcard expansion)."""
        node = self._root
        segs = pattern.split(".")
        for i, seg in enumerate(segs):
            if seg == ">" and i == len(segs) - 1:
                return list(node.gt_values)
            nxt = node.star if seg == "*" else node.children.get(seg)
            if nxt is None:
                return []
            node = nxt
        return list(node.values)

    def values(self) -> list[V]:
        out: list[V] = []
        stack = [self._root]
        while stack:
            n = stack.pop()
            out.extend(n.values)
            out.extend(n.gt_values)
            stack.extend(n.children.values())
            if n.star is not None:
                stack.append(n.star)
        return out

    # -- internals -------------------------------------------------------------------
    def _changed(self, delta: int) -> None:
        self._count += delta
        if self._cache:
            self._cache.clear()

    @staticmethod
    def _prune(path: list[tuple[_Node[V], str]], node: _Node[V]) -> None:
        for parent, seg in reversed(path):
            if node.values or node.gt_values or node.children or node.star is not None:
                return
            if seg == "*":
                parent.star = None
            else:
                parent.children.pop(seg, None)
            node = parent


def _remove_identity(lst: list[V], value: V) -> bool:
    for i, v in enumerate(lst):
        if v is value or v == value:
            del lst[i]
            return True
    return False


def _match(node: _Node[V], segs: list[str], i: int, out: list[V]) -> None:
    if node.gt_values:
        # '>' matches the rest, one or more segments; ActiveMQ also matches zero.
        out.extend(node.gt_values)
    if i == len(segs):
        out.extend(node.values)
        return
    seg = segs[i]
    child = node.children.get(seg)
    if child is not None:
        _match(child, segs, i + 1, out)
    if node.star is not None:
        _match(node.star, segs, i + 1, out)


def pattern_matches(pattern: str, subject: str) -> bool:
    """One-off match of a pattern against a literal subject (no trie)."""
    p = pattern.split(".")
    s = subject.split(".")
    for i, seg in enumerate(p):
        if seg == ">" and i == len(p) - 1:
            return True
        if i >= len(s):
            return False
        if seg != "*" and seg != s[i]:
            return False
    return len(p) == len(s)
