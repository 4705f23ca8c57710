"""JMS message selectors: the SQL-92 conditional-expression subset of JMS 1.1/2.0 §3.8.

A selector is compiled once (tokenizer, Pratt parser, static type checks) into a tree of
Python closures; ``Selector.matches`` only calls closures, never ``eval``. Compilation is
cached by text, so every subscription with the same selector shares one ``Selector``.

Evaluation uses SQL's three-valued logic. A missing property is NULL; any comparison,
arithmetic or predicate with a NULL operand is UNKNOWN (``None`` here). A value of the
wrong type (a string compared with a number, a number given to LIKE, a string property in
arithmetic) also yields UNKNOWN, so it behaves like a missing value. A message is selected
only when the whole expression is TRUE. Matching never raises.

Values: strings, numbers (``int`` and ``float``; ``bool`` is not a number), booleans and
opaque values (``bytes`` and anything else) that only equal values of their own type.
Integer arithmetic follows Java's ``long``: division and remainder truncate toward zero and
results wrap at 64 bits. Division or remainder by zero is UNKNOWN, and so is a result that
cannot be computed (a huge integer mixed with a float).

Extensions kept for ActiveMQ compatibility: hexadecimal (``0x1F``) and octal (``017``)
literals, the ``L``/``F``/``D`` suffixes, the ``%`` remainder operator and SQL comments
(``-- to end of line`` and ``/* ... */``).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from ferrymq.core.errors import InvalidRequest
from ferrymq.core.message import Message

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "InvalidSelector",
    "Selector",
    "compile_selector",
    "evaluate",
]

MAX_LENGTH = 65536  # characters (and UTF-8 bytes): a selector is a header, not a program
MAX_DEPTH = 200  # nesting of parentheses, NOT and unary signs: bounds the parser's recursion

Value = Any
Getter = Callable[[Message], Value]  # a value, or None for NULL
Cond = Callable[[Message], "bool | None"]  # TRUE, FALSE or None for UNKNOWN


class InvalidSelector(InvalidRequest):
    """A selector that does not compile; ``reason`` says what, ``position`` where (0-based)."""

    def __init__(self, reason: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"invalid selector: {reason}{where}")
        self.reason = reason
        self.position = position


# ---------------------------------------------------------------------------------------
# Tokens

_EOF = "EOF"
_NUM = "NUM"
_STR = "STR"
_ID = "ID"
_KW = "KW"
_OP = "OP"

KEYWORDS = frozenset({"NOT", "AND", "OR", "BETWEEN", "LIKE", "IN", "IS", "NULL", "TRUE", "FALSE", "ESCAPE"})

_NUMBER_RE = re.compile(
    r"""
    (?P<hex>0[xX][0-9a-fA-F]+[lL]?)
  | (?P<float>(?:[0-9]+\.[0-9]*(?:[eE][+-]?[0-9]+)?
              |\.[0-9]+(?:[eE][+-]?[0-9]+)?
              |[0-9]+[eE][+-]?[0-9]+)[fFdD]?
              |[0-9]+[fFdD])
  | (?P<oct>0[0-7]+[lL]?)
  | (?P<dec>(?:0|[1-9][0-9]*)[lL]?)
    """,
    re.VERBOSE,
)
_IDENT_RE = re.compile(r"(?:[^\W\d]|\$)[\w$]*")
_IDENT_PART_RE = re.compile(r"[\w$.]")
_OPERATORS = ("<>", "<=", ">=", "=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",")
_WHITESPACE = " \t\n\r\f"


class _Token:
    __slots__ = ("type", "value", "pos", "text")

    def __init__(self, type: str, value: Any, pos: int, text: str) -> None:
        self.type = type
        self.value = value
        self.pos = pos
        self.text = text

    def describe(self) -> str:
        return "end of selector" if self.type == _EOF else repr(self.text)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if c == "-" and text.startswith("--", i):
            nl = text.find("\n", i)
            i = n if nl < 0 else nl + 1
            continue
        if c == "/" and text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise InvalidSelector("unterminated comment", i)
            i = end + 2
            continue
        if c == "'":
            j = i + 1
            parts: list[str] = []
            while True:
                q = text.find("'", j)
                if q < 0:
                    raise InvalidSelector("unterminated string literal", i)
                parts.append(text[j:q])
                if q + 1 < n and text[q + 1] == "'":
                    parts.append("'")
                    j = q + 2
                    continue
                j = q + 1
                break
            tokens.append(_Token(_STR, "".join(parts), i, text[i:j]))
            i = j
            continue
        if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= text[i + 1] <= "9"):
            m = _NUMBER_RE.match(text, i)
            end = m.end() if m else i
            if m is None or (end < n and _IDENT_PART_RE.match(text, end)):
                stop = end
                while stop < n and _IDENT_PART_RE.match(text, stop):
                    stop += 1
                raise InvalidSelector(f"malformed number {text[i : max(stop, i + 1)]!r}", i)
            tokens.append(_Token(_NUM, _number_value(m), i, m.group()))
            i = end
            continue
        m = _IDENT_RE.match(text, i)
        if m is not None:
            word = m.group()
            upper = word.upper()
            if upper in KEYWORDS:
                tokens.append(_Token(_KW, upper, i, word))
            else:
                tokens.append(_Token(_ID, word, i, word))
            i = m.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                tokens.append(_Token(_OP, op, i, op))
                i += len(op)
                break
        else:
            raise InvalidSelector(f"unexpected character {c!r}", i)
    tokens.append(_Token(_EOF, None, n, ""))
    return tokens


def _number_value(m: re.Match[str]) -> int | float:
    kind = m.lastgroup
    s = m.group()
    if kind == "float":
        v = float(s.rstrip("fFdD"))
        if math.isinf(v):
            raise InvalidSelector(f"number {s!r} out of range", m.start())
        return v
    s = s.rstrip("lL")
    if kind == "hex":
        return int(s[2:], 16)
    if kind == "oct":
        return int(s[1:], 8)
    return int(s)


# ---------------------------------------------------------------------------------------
# Runtime helpers: every one total (no exceptions), None = NULL / UNKNOWN


def _isnum(v: Value) -> bool:
    t = type(v)
    if t is int or t is float:
        return True
    return t is not bool and isinstance(v, int | float)


def _kind_of(v: Value) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "num"
    if isinstance(v, str):
        return "str"
    return type(v).__name__


def _eq(a: Value, b: Value) -> bool | None:
    if a is None or b is None:
        return None
    if type(a) is type(b) or _kind_of(a) == _kind_of(b):
        try:
            return bool(a == b)
        except Exception:  # an exotic property value with a hostile __eq__
            return None
    return None


def _ne(a: Value, b: Value) -> bool | None:
    r = _eq(a, b)
    return None if r is None else not r


def _lt(a: Value, b: Value) -> bool | None:
    return a < b if _isnum(a) and _isnum(b) else None


def _le(a: Value, b: Value) -> bool | None:
    return a <= b if _isnum(a) and _isnum(b) else None


def _gt(a: Value, b: Value) -> bool | None:
    return a > b if _isnum(a) and _isnum(b) else None


def _ge(a: Value, b: Value) -> bool | None:
    return a >= b if _isnum(a) and _isnum(b) else None


_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_LONG_MASK = 2**64 - 1


def _add(a: Any, b: Any) -> Value:
    return a + b


def _sub(a: Any, b: Any) -> Value:
    return a - b


def _mul(a: Any, b: Any) -> Value:
    return a * b


def _div(a: Any, b: Any) -> Value:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)  # Java long division truncates toward zero
        return -q if (a < 0) != (b < 0) else q
    return a / b


def _mod(a: Any, b: Any) -> Value:
    if b == 0:
        return None
    if isinstance(a, int) and isinstance(b, int):
        r = abs(a) % abs(b)  # Java remainder takes the dividend's sign
        return -r if a < 0 else r
    return math.fmod(a, b)


_CMP_FUNCS: dict[str, Callable[[Value, Value], bool | None]] = {
    "=": _eq,
    "<>": _ne,
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}
_ARITH_FUNCS: dict[str, Callable[[Any, Any], Value]] = {"+": _add, "-": _sub, "*": _mul, "/": _div, "%": _mod}


def _not3(f: Cond) -> Cond:
    def run(m: Message) -> bool | None:
        r = f(m)
        return None if r is None else not r

    return run


# ---------------------------------------------------------------------------------------
# Header fields


def _header(attr: str, name: str) -> Getter:
    """A header with a property of the same name as fallback when the header is unset."""

    def get(m: Message) -> Value:
        v = getattr(m, attr)
        return m.properties.get(name) if v is None else v

    return get


def _group_seq(m: Message) -> Value:
    if m.group_id is None and not m.group_seq:
        return m.properties.get("JMSXGroupSeq")
    return m.group_seq


HEADERS: dict[str, Getter] = {
    "JMSDeliveryMode": lambda m: "PERSISTENT" if m.persistent else "NON_PERSISTENT",
    "JMSPriority": lambda m: m.priority,
    "JMSMessageID": lambda m: m.message_id,
    "JMSTimestamp": lambda m: m.timestamp,
    "JMSCorrelationID": lambda m: m.correlation_id,
    "JMSType": lambda m: m.type,
    "JMSExpiration": lambda m: m.expiration,
    "JMSXGroupID": _header("group_id", "JMSXGroupID"),
    "JMSXGroupSeq": _group_seq,
    "JMSXUserID": _header("user_id", "JMSXUserID"),
}


# ---------------------------------------------------------------------------------------
# Syntax tree: each node knows its static kind, renders itself and compiles to a closure

K_BOOL = "boolean"
K_NUM = "numeric"
K_STR = "string"
K_ANY = "identifier"  # type known only at run time


class _Node:
    __slots__ = ("kind", "pos")

    def __init__(self, kind: str, pos: int) -> None:
        self.kind = kind
        self.pos = pos

    def compile(self) -> Getter:  # pragma: no cover - abstract
        raise NotImplementedError

    def render(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def cond(self) -> Cond:
        """The closure in a boolean context: a non-boolean value is UNKNOWN."""
        f = self.compile()
        if self.kind == K_BOOL:
            return f

        def run(m: Message) -> bool | None:
            v = f(m)
            return v if type(v) is bool else None

        return run


class _Lit(_Node):
    __slots__ = ("value",)

    def __init__(self, value: Value, pos: int) -> None:
        if isinstance(value, bool):
            kind = K_BOOL
        elif isinstance(value, str):
            kind = K_STR
        else:
            kind = K_NUM
        super().__init__(kind, pos)
        self.value = value

    def compile(self) -> Getter:
        v = self.value
        return lambda m: v

    def render(self) -> str:
        v = self.value
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return repr(v)


class _Ident(_Node):
    __slots__ = ("name",)

    def __init__(self, name: str, pos: int) -> None:
        super().__init__(K_ANY, pos)
        self.name = name

    def compile(self) -> Getter:
        header = HEADERS.get(self.name)
        if header is not None:
            return header
        name = self.name
        return lambda m: m.properties.get(name)

    def render(self) -> str:
        return self.name


class _Sign(_Node):
    __slots__ = ("op", "operand")

    def __init__(self, op: str, operand: _Node, pos: int) -> None:
        super().__init__(K_NUM, pos)
        self.op = op
        self.operand = operand

    def compile(self) -> Getter:
        f = self.operand.compile()
        if self.op == "-":
            return lambda m: -v if _isnum(v := f(m)) else None
        return lambda m: v if _isnum(v := f(m)) else None

    def render(self) -> str:
        return f"({self.op}{self.operand.render()})"


class _Arith(_Node):
    """One precedence level of a left-associative chain, kept flat: a + b - c + ..."""

    __slots__ = ("level", "first", "rest")

    def __init__(self, level: int, first: _Node, pos: int) -> None:
        super().__init__(K_NUM, pos)
        self.level = level
        self.first = first
        self.rest: list[tuple[str, _Node]] = []

    def compile(self) -> Getter:
        f0 = self.first.compile()
        steps = [(_ARITH_FUNCS[op], n.compile()) for op, n in self.rest]

        def run(m: Message) -> Value:
            acc = f0(m)
            if not _isnum(acc):
                return None
            for op, f in steps:
                v = f(m)
                if not _isnum(v):
                    return None
                try:
                    acc = op(acc, v)
                except (ArithmeticError, ValueError):  # e.g. a huge int does not fit a float
                    return None
                if acc is None:
                    return None
                if isinstance(acc, int) and not _LONG_MIN <= acc <= _LONG_MAX:
                    acc = ((acc - _LONG_MIN) & _LONG_MASK) + _LONG_MIN  # wraps like Java's long
            return acc

        return run

    def render(self) -> str:
        parts = [self.first.render()]
        for op, n in self.rest:
            parts.append(op)
            parts.append(n.render())
        return "(" + " ".join(parts) + ")"


class _Cmp(_Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op: str, left: _Node, right: _Node, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.op = op
        self.left = left
        self.right = right

    def compile(self) -> Getter:
        fn = _CMP_FUNCS[self.op]
        lf = self.left.compile()
        if isinstance(self.right, _Lit):
            c = self.right.value
            return lambda m: fn(lf(m), c)
        rf = self.right.compile()
        return lambda m: fn(lf(m), rf(m))

    def render(self) -> str:
        return f"({self.left.render()} {self.op} {self.right.render()})"


class _Between(_Node):
    __slots__ = ("operand", "low", "high", "negated")

    def __init__(self, operand: _Node, low: _Node, high: _Node, negated: bool, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.operand = operand
        self.low = low
        self.high = high
        self.negated = negated

    def compile(self) -> Getter:
        f, lo, hi = self.operand.compile(), self.low.compile(), self.high.compile()

        def run(m: Message) -> bool | None:
            v = f(m)
            a = _ge(v, lo(m))
            if a is False:
                return False
            b = _le(v, hi(m))
            if b is False:
                return False
            return None if a is None or b is None else True

        return _not3(run) if self.negated else run

    def render(self) -> str:
        neg = "NOT " if self.negated else ""
        return f"({self.operand.render()} {neg}BETWEEN {self.low.render()} AND {self.high.render()})"


class _In(_Node):
    __slots__ = ("operand", "values", "negated")

    def __init__(self, operand: _Node, values: list[str], negated: bool, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.operand = operand
        self.values = values
        self.negated = negated

    def compile(self) -> Getter:
        f = self.operand.compile()
        members = frozenset(self.values)
        negated = self.negated

        def run(m: Message) -> bool | None:
            v = f(m)
            if not isinstance(v, str):
                return None
            return (v in members) is not negated

        return run

    def render(self) -> str:
        neg = "NOT " if self.negated else ""
        items = ", ".join(_Lit(v, 0).render() for v in self.values)
        return f"({self.operand.render()} {neg}IN ({items}))"


class _LikePattern:
    """A LIKE pattern matched without backtracking: '%'-separated fixed-width segments.

    Each segment (literal characters and '_') has a fixed length, so the first segment is
    anchored at the start, the last at the end, and the middle ones are taken leftmost
    first, which is optimal for '%'. Matching is O(len(value) * len(pattern)) at worst.
    """

    __slots__ = ("segments", "has_percent")

    def __init__(self, pattern: str, escape: str | None) -> None:
        segments: list[list[str | None]] = [[]]  # None marks '_'
        i = 0
        n = len(pattern)
        while i < n:
            c = pattern[i]
            if escape is not None and c == escape and i + 1 < n and pattern[i + 1] in ("%", "_", escape):
                segments[-1].append(pattern[i + 1])
                i += 2
                continue
            if c == "%":
                segments.append([])
            elif c == "_":
                segments[-1].append(None)
            else:
                segments[-1].append(c)
            i += 1
        self.has_percent = len(segments) > 1
        self.segments = [_Segment(s) for s in segments]

    def match(self, s: str) -> bool:
        segs = self.segments
        if not self.has_percent:
            return segs[0].at(s, 0) and segs[0].length == len(s)
        first, last = segs[0], segs[-1]
        pos = first.length
        end = len(s) - last.length
        if end < pos or not first.at(s, 0) or not last.at(s, end):
            return False
        for seg in segs[1:-1]:
            i = seg.find(s, pos, end)
            if i < 0:
                return False
            pos = i + seg.length
        return True


class _Segment:
    __slots__ = ("length", "literal", "regex")

    def __init__(self, chars: list[str | None]) -> None:
        self.length = len(chars)
        if all(c is not None for c in chars):
            self.literal: str | None = "".join(c for c in chars if c is not None)
            self.regex: re.Pattern[str] | None = None
        else:
            self.literal = None
            self.regex = re.compile("".join("." if c is None else re.escape(c) for c in chars), re.DOTALL)

    def at(self, s: str, pos: int) -> bool:
        if self.literal is not None:
            return s.startswith(self.literal, pos)
        assert self.regex is not None
        return self.regex.match(s, pos) is not None

    def find(self, s: str, start: int, end: int) -> int:
        if self.literal is not None:
            return s.find(self.literal, start, end)
        assert self.regex is not None
        m = self.regex.search(s, start, end)
        return -1 if m is None else m.start()


class _Like(_Node):
    __slots__ = ("operand", "pattern", "escape", "negated")

    def __init__(self, operand: _Node, pattern: str, escape: str | None, negated: bool, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.operand = operand
        self.pattern = pattern
        self.escape = escape
        self.negated = negated

    def compile(self) -> Getter:
        f = self.operand.compile()
        matcher = _LikePattern(self.pattern, self.escape).match
        negated = self.negated

        def run(m: Message) -> bool | None:
            v = f(m)
            if not isinstance(v, str):
                return None
            return matcher(v) is not negated

        return run

    def render(self) -> str:
        neg = "NOT " if self.negated else ""
        esc = "" if self.escape is None else " ESCAPE " + _Lit(self.escape, 0).render()
        return f"({self.operand.render()} {neg}LIKE {_Lit(self.pattern, 0).render()}{esc})"


class _IsNull(_Node):
    __slots__ = ("operand", "negated")

    def __init__(self, operand: _Node, negated: bool, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.operand = operand
        self.negated = negated

    def compile(self) -> Getter:
        f = self.operand.compile()
        if self.negated:
            return lambda m: f(m) is not None
        return lambda m: f(m) is None

    def render(self) -> str:
        return f"({self.operand.render()} IS {'NOT ' if self.negated else ''}NULL)"


class _Not(_Node):
    __slots__ = ("operand",)

    def __init__(self, operand: _Node, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.operand = operand

    def compile(self) -> Getter:
        return _not3(self.operand.cond())

    def render(self) -> str:
        return f"(NOT {self.operand.render()})"


class _Logic(_Node):
    """AND or OR over a flat list of operands (a long chain never nests closures)."""

    __slots__ = ("op", "items")

    def __init__(self, op: str, first: _Node, pos: int) -> None:
        super().__init__(K_BOOL, pos)
        self.op = op
        self.items = [first]

    def compile(self) -> Getter:
        fs = [n.cond() for n in self.items]
        # AND stops at the first FALSE, OR at the first TRUE; UNKNOWN is remembered.
        stop = self.op == "OR"

        def run(m: Message) -> bool | None:
            result: bool | None = not stop
            for f in fs:
                r = f(m)
                if r is stop:
                    return stop
                if r is None:
                    result = None
            return result

        return run

    def render(self) -> str:
        return "(" + f" {self.op} ".join(n.render() for n in self.items) + ")"


# ---------------------------------------------------------------------------------------
# Parser (Pratt): binding powers OR 1 < AND 2 < NOT 3 < predicates 4 < + - 5 < * / % 6 < sign 7

_BP_OR, _BP_AND, _BP_NOT, _BP_PRED, _BP_ADD, _BP_MUL, _BP_SIGN = 1, 2, 3, 4, 5, 6, 7
_COMPARISONS = frozenset({"=", "<>", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        if tok.type != _EOF:
            self.i += 1
        return tok

    def expect_kw(self, word: str) -> _Token:
        tok = self.advance()
        if tok.type != _KW or tok.value != word:
            raise InvalidSelector(f"expected {word} but found {tok.describe()}", tok.pos)
        return tok

    def expect_op(self, op: str) -> _Token:
        tok = self.advance()
        if tok.type != _OP or tok.value != op:
            raise InvalidSelector(f"expected '{op}' but found {tok.describe()}", tok.pos)
        return tok

    def string_literal(self, what: str) -> str:
        tok = self.advance()
        if tok.type != _STR:
            raise InvalidSelector(f"{what} must be a string literal, found {tok.describe()}", tok.pos)
        return str(tok.value)

    # -- grammar -------------------------------------------------------------------------
    def parse(self) -> _Node:
        node = self.expr(0)
        tok = self.peek()
        if tok.type != _EOF:
            raise InvalidSelector(f"unexpected {tok.describe()}", tok.pos)
        _require_cond(node)
        return node

    def nest(self, tok: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidSelector(f"nested deeper than {MAX_DEPTH} levels", tok.pos)

    def prefix(self, min_bp: int) -> _Node:
        tok = self.advance()
        if tok.type == _NUM or tok.type == _STR:
            return _Lit(tok.value, tok.pos)
        if tok.type == _ID:
            return _Ident(tok.value, tok.pos)
        if tok.type == _KW:
            if tok.value == "TRUE" or tok.value == "FALSE":
                return _Lit(tok.value == "TRUE", tok.pos)
            if tok.value == "NOT" and min_bp <= _BP_NOT:  # not as an operand: a = NOT b
                self.nest(tok)
                operand = self.expr(_BP_NOT)
                self.depth -= 1
                _require_cond(operand)
                return _Not(operand, tok.pos)
            if tok.value == "NULL":
                raise InvalidSelector("NULL may only appear in IS NULL or IS NOT NULL", tok.pos)
        if tok.type == _OP:
            if tok.value == "(":
                self.nest(tok)
                inner = self.expr(0)
                self.depth -= 1
                self.expect_op(")")
                return inner
            if tok.value == "-" or tok.value == "+":
                self.nest(tok)
                operand = self.expr(_BP_SIGN)
                self.depth -= 1
                _require_numeric(operand)
                if tok.value == "-" and isinstance(operand, _Lit):
                    return _Lit(-operand.value, tok.pos)  # a negative literal, e.g. -957
                return _Sign(tok.value, operand, tok.pos)
        if tok.type == _EOF:
            raise InvalidSelector("unexpected end of selector", tok.pos)
        raise InvalidSelector(f"unexpected {tok.describe()}", tok.pos)

    def expr(self, min_bp: int) -> _Node:
        left = self.prefix(min_bp)
        chain: _Node | None = None  # the flat AND/OR/arithmetic node this loop is extending
        predicate_done = False
        while True:
            tok = self.peek()
            bp, op = _infix(tok, self.peek(1))
            if bp <= min_bp:
                break
            if bp == _BP_PRED:
                if predicate_done:
                    raise InvalidSelector(
                        f"{tok.describe()} cannot follow a comparison without parentheses", tok.pos
                    )
                left = self.predicate(left, op)
                predicate_done = True
                chain = None
                continue
            predicate_done = False
            self.advance()
            right = self.expr(bp)
            if bp in (_BP_OR, _BP_AND):
                _require_cond(left)
                _require_cond(right)
                if not (isinstance(chain, _Logic) and chain is left and chain.op == op):
                    left = chain = _Logic(op, left, tok.pos)
                chain.items.append(right)
            else:
                _require_numeric(left)
                _require_numeric(right)
                if not (isinstance(chain, _Arith) and chain is left and chain.level == bp):
                    left = chain = _Arith(bp, left, tok.pos)
                chain.rest.append((op, right))
        return left

    def predicate(self, left: _Node, op: str) -> _Node:
        tok = self.advance()
        negated = False
        if op == "NOT":
            negated = True
            tok = self.advance()
            op = tok.value
        if op in _COMPARISONS:
            right = self.expr(_BP_PRED)
            _check_comparison(op, left, right, tok)
            return _Cmp(op, left, right, tok.pos)
        if op == "BETWEEN":
            _require_numeric(left)
            low = self.expr(_BP_PRED)
            _require_numeric(low)
            self.expect_kw("AND")
            high = self.expr(_BP_PRED)
            _require_numeric(high)
            return _Between(left, low, high, negated, tok.pos)
        if op == "LIKE":
            _require_string(left, "LIKE")
            pattern = self.string_literal("the LIKE pattern")
            escape: str | None = None
            if self.peek().type == _KW and self.peek().value == "ESCAPE":
                self.advance()
                esc_tok = self.peek()
                escape = self.string_literal("ESCAPE")
                if len(escape) != 1:
                    raise InvalidSelector(
                        f"ESCAPE must be exactly one character, got {esc_tok.text}", esc_tok.pos
                    )
            return _Like(left, pattern, escape, negated, tok.pos)
        if op == "IN":
            _require_string(left, "IN")
            self.expect_op("(")
            values = [self.in_item()]
            while self.peek().type == _OP and self.peek().value == ",":
                self.advance()
                values.append(self.in_item())
            self.expect_op(")")
            return _In(left, values, negated, tok.pos)
        # IS [NOT] NULL
        if self.peek().type == _KW and self.peek().value == "NOT":
            self.advance()
            negated = True
        self.expect_kw("NULL")
        return _IsNull(left, negated, tok.pos)

    def in_item(self) -> str:
        tok = self.advance()
        if tok.type != _STR:
            raise InvalidSelector(f"IN list items must be string literals, found {tok.describe()}", tok.pos)
        return str(tok.value)


def _infix(tok: _Token, after: _Token) -> tuple[int, str]:
    """Binding power and operator of ``tok`` as an infix operator; 0 when it is none."""
    if tok.type == _OP:
        v = tok.value
        if v in _COMPARISONS:
            return _BP_PRED, v
        if v == "+" or v == "-":
            return _BP_ADD, v
        if v == "*" or v == "/" or v == "%":
            return _BP_MUL, v
        return 0, v
    if tok.type == _KW:
        v = tok.value
        if v == "OR":
            return _BP_OR, v
        if v == "AND":
            return _BP_AND, v
        if v in ("BETWEEN", "LIKE", "IN", "IS"):
            return _BP_PRED, v
        if v == "NOT" and after.type == _KW and after.value in ("BETWEEN", "LIKE", "IN"):
            return _BP_PRED, v
    return 0, ""


def _show(node: _Node) -> str:
    """A node for an error message, shortened: the selector may be 64 KiB long."""
    text = node.render()
    return text if len(text) <= 60 else text[:57] + "..."


def _require_cond(node: _Node) -> None:
    if node.kind != K_BOOL and node.kind != K_ANY:
        raise InvalidSelector(
            f"expected a condition but found a {node.kind} expression {_show(node)}", node.pos
        )


def _require_numeric(node: _Node) -> None:
    if node.kind != K_NUM and node.kind != K_ANY:
        raise InvalidSelector(f"expected a numeric expression but found {node.kind} {_show(node)}", node.pos)


def _require_string(node: _Node, op: str) -> None:
    if node.kind != K_STR and node.kind != K_ANY:
        raise InvalidSelector(f"{op} needs a string operand, found {node.kind} {_show(node)}", node.pos)


def _check_comparison(op: str, left: _Node, right: _Node, tok: _Token) -> None:
    if op in ("=", "<>"):
        if left.kind != K_ANY and right.kind != K_ANY and left.kind != right.kind:
            raise InvalidSelector(
                f"cannot compare {left.kind} {_show(left)} with {right.kind} {_show(right)}", tok.pos
            )
        return
    for side in (left, right):
        if side.kind == K_STR or side.kind == K_BOOL:
            raise InvalidSelector(f"{op!r} needs numeric operands, found {side.kind} {_show(side)}", side.pos)


# ---------------------------------------------------------------------------------------
# Public API


class Selector:
    """A compiled selector. ``matches`` is total: it returns a bool for any message."""

    __slots__ = ("text", "canonical", "_fn")

    def __init__(self, text: str, canonical: str, fn: Cond) -> None:
        self.text = text
        self.canonical = canonical  # fully parenthesized, keywords upper case
        self._fn = fn

    def matches(self, message: Message) -> bool:
        return self._fn(message) is True

    def __repr__(self) -> str:
        return f"Selector({self.text!r})"


@functools.lru_cache(maxsize=1024)
def _compile(text: str) -> Selector:
    if len(text) > MAX_LENGTH or (
        len(text) > MAX_LENGTH // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_LENGTH
    ):
        raise InvalidSelector(f"longer than {MAX_LENGTH} bytes")
    try:
        root = _Parser(text).parse()
        return Selector(text, root.render(), root.cond())
    except RecursionError:  # a safety net under MAX_DEPTH; should not happen
        raise InvalidSelector("too deeply nested") from None


def compile_selector(text: str | None) -> Selector | None:
    """Compile ``text``; None for no selector (None, empty or blank: match everything).

    Raises ``InvalidSelector`` with the reason and position. Results are cached by text.
    """
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidSelector(f"selector must be a string, not {type(text).__name__}")
    if not text.strip():
        return None
    return _compile(text)


def evaluate(selector_text: str | None, message: Message) -> bool:
    """Compile (cached) and match in one call; no selector matches every message."""
    sel = compile_selector(selector_text)
    return True if sel is None else sel.matches(message)
