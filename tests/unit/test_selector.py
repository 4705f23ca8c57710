"""JMS message selectors: grammar, three-valued logic, types, headers, errors, caching."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrymq.core.errors import Condition, InvalidRequest
from ferrymq.core.message import Message
from ferrymq.core.names import queue
from ferrymq.core.selector import (
    MAX_DEPTH,
    MAX_LENGTH,
    InvalidSelector,
    Selector,
    compile_selector,
    evaluate,
)


def msg(**props: Any) -> Message:
    return Message(queue("orders"), b"", properties=props)


def sel(text: str) -> Selector:
    s = compile_selector(text)
    assert s is not None
    return s


def match(text: str, **props: Any) -> bool:
    return sel(text).matches(msg(**props))


def truth(expr: str, message: Message) -> bool | None:
    """The three-valued result of ``expr``: TRUE, FALSE or None for UNKNOWN.

    A selector only matches when TRUE, so FALSE is told from UNKNOWN by matching NOT (expr).
    """
    if sel(expr).matches(message):
        assert not sel(f"NOT ({expr})").matches(message)
        return True
    if sel(f"NOT ({expr})").matches(message):
        return False
    return None


# -- empty selectors and the API -------------------------------------------------------------


@pytest.mark.parametrize("text", [None, "", "   ", "\t\n "])
def test_no_selector_matches_everything(text: str | None) -> None:
    assert compile_selector(text) is None
    assert evaluate(text, msg()) is True


def test_evaluate_compiles_and_matches() -> None:
    assert evaluate("a = 1", msg(a=1)) is True
    assert evaluate("a = 1", msg(a=2)) is False


def test_compile_is_cached_by_text() -> None:
    text = "color = 'blue' AND weight > 2"
    first = compile_selector(text)
    assert first is not None
    assert compile_selector(text) is first
    assert compile_selector(text + " ") is not first
    assert first.text == text
    assert "color" in repr(first)


def test_invalid_selector_is_an_invalid_request() -> None:
    with pytest.raises(InvalidSelector) as info:
        compile_selector("a = ")
    err = info.value
    assert isinstance(err, InvalidRequest)
    assert err.condition == Condition.INVALID
    assert err.position == 4
    assert str(err) == "invalid selector: unexpected end of selector at position 4"


def test_non_string_selector_is_rejected() -> None:
    with pytest.raises(InvalidSelector, match="must be a string"):
        compile_selector(b"a = 1")  # type: ignore[arg-type]


# -- literals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("57", 57),
        ("-957", -957),
        ("+62", 62),
        ("57L", 57),
        ("57l", 57),
        ("0", 0),
        ("0x1F", 31),
        ("0X1f", 31),
        ("0x10L", 16),
        ("017", 15),
        ("7E3", 7000.0),
        ("-57.9E2", -5790.0),
        ("7.", 7.0),
        ("95.7", 95.7),
        ("+6.2", 6.2),
        (".5", 0.5),
        ("1.5E-2", 0.015),
        ("1e3", 1000.0),
        ("2.5F", 2.5),
        ("2.5d", 2.5),
        ("3F", 3.0),
        ("3D", 3.0),
        ("9223372036854775807", 9223372036854775807),
    ],
)
def test_numeric_literals(literal: str, value: int | float) -> None:
    assert match(f"v = {literal}", v=value)
    assert not match(f"v = {literal}", v=value + 1)


def test_string_literals_with_doubled_quote() -> None:
    assert match("s = 'literal''s'", s="literal's")
    assert match("s = ''", s="")
    assert match("s = ''''", s="'")
    assert match("s = 'ünïcødé ✓'", s="ünïcødé ✓")
    assert not match("s = 'literal''s'", s="literal''s")


def test_boolean_literals_are_case_insensitive() -> None:
    for t in ("TRUE", "true", "True", "tRuE"):
        assert match(t)
        assert match(f"b = {t}", b=True)
    for f in ("FALSE", "false", "False"):
        assert not match(f)
        assert match(f"b = {f}", b=False)


# -- identifiers and header fields ----------------------------------------------------------


def test_identifiers_are_case_sensitive_keywords_are_not() -> None:
    assert match("Color = 'red'", Color="red")
    assert not match("color = 'red'", Color="red")
    assert match("a = 1 and b = 2 Or c = 3", a=1, b=2)
    assert match("$price > 1 AND _x_1 = 2 AND ünï = 3", **{"$price": 2, "_x_1": 2, "ünï": 3})


@pytest.mark.parametrize(
    "word", ["NOT", "and", "Or", "BETWEEN", "like", "IN", "is", "NULL", "true", "ESCAPE"]
)
def test_keywords_are_not_identifiers(word: str) -> None:
    with pytest.raises(InvalidSelector):
        compile_selector(f"{word} = 1")


def test_header_fields() -> None:
    m = Message(
        queue("q"),
        message_id="ID:m-1",
        persistent=True,
        priority=7,
        timestamp=1_700_000_000_000,
        expiration=1_800_000_000_000,
        correlation_id="corr-9",
        type="order.created",
        group_id="g1",
        group_seq=3,
        user_id="alice",
        properties={"JMSPriority": 1, "JMSXDeliveryCount": 2},
    )
    for text in [
        "JMSDeliveryMode = 'PERSISTENT'",
        "JMSPriority = 7",  # the header wins over a property of the same name
        "JMSPriority BETWEEN 5 AND 9",
        "JMSMessageID = 'ID:m-1'",
        "JMSTimestamp = 1700000000000",
        "JMSExpiration > JMSTimestamp",
        "JMSCorrelationID = 'corr-9'",
        "JMSType LIKE 'order.%'",
        "JMSXGroupID = 'g1'",
        "JMSXGroupSeq = 3",
        "JMSXUserID = 'alice'",
        "JMSXDeliveryCount = 2",  # not a header: read from the properties
    ]:
        assert sel(text).matches(m), text
    plain = Message(queue("q"), persistent=False)
    assert sel("JMSDeliveryMode = 'NON_PERSISTENT'").matches(plain)
    assert sel("JMSPriority = 4").matches(plain)
    for text in [
        "JMSCorrelationID IS NULL",
        "JMSType IS NULL",
        "JMSXGroupID IS NULL",
        "JMSXGroupSeq IS NULL",
    ]:
        assert sel(text).matches(plain), text
    assert truth("JMSType = 'x'", plain) is None
    assert truth("JMSDestination = 'q'", plain) is None  # not selectable: an absent property


def test_group_headers_fall_back_to_properties() -> None:
    m = Message(queue("q"), properties={"JMSXGroupID": "pg", "JMSXGroupSeq": 5})
    assert sel("JMSXGroupID = 'pg' AND JMSXGroupSeq = 5").matches(m)


# -- comparisons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "results"),
    [("=", (False, True, False)), ("<>", (True, False, True)), ("<", (True, False, False))]
    + [(">", (False, False, True)), ("<=", (True, True, False)), (">=", (False, True, True))],
)
def test_numeric_comparisons(op: str, results: tuple[bool, bool, bool]) -> None:
    for value, expected in zip((1, 2, 3), results, strict=True):
        assert match(f"n {op} 2", n=value) is expected
        assert match(f"n {op} 2.0", n=value) is expected  # int against float
        assert match(f"n {op} 2", n=float(value)) is expected  # float against int
        assert match(f"2 {op} n", n=4 - value) is expected  # literal on the left


def test_string_and_boolean_equality() -> None:
    assert match("s = 'a'", s="a")
    assert match("s <> 'a'", s="b")
    assert not match("s <> 'a'", s="a")
    assert match("b = FALSE", b=False)
    assert match("b <> FALSE", b=True)
    assert match("x = y", x="same", y="same")
    assert match("x <> y", x=1, y=2)
    assert match("(a = 1) = (b = 2)", a=1, b=2)
    assert match("(a = 1) <> (b = 2)", a=1, b=3)


def test_incompatible_types_are_unknown_never_errors() -> None:
    cases = [
        ("s = 5", {"s": "5"}),  # numeric strings are not converted
        ("s > 4", {"s": "5"}),
        ("s <> 5", {"s": "5"}),
        ("b = 1", {"b": True}),  # a boolean is not a number
        ("n = s", {"n": 3, "s": "3"}),
        ("x < y", {"x": "a", "y": "b"}),  # strings only compare with = and <>
        ("x > y", {"x": True, "y": False}),
        ("raw = 'xy'", {"raw": b"xy"}),
        ("n + 1 = 2", {"n": "1"}),
        ("-n = -1", {"n": "1"}),
        ("n BETWEEN 1 AND 3", {"n": "2"}),
        ("n IN ('2')", {"n": 2}),
        ("n LIKE '2'", {"n": 2}),
        ("obj = 1", {"obj": [1]}),
        ("flag", {"flag": "true"}),  # a non-boolean in a boolean context
        ("flag", {"flag": 1}),
    ]
    for text, props in cases:
        assert truth(text, msg(**props)) is None, text


def test_bytes_equal_bytes() -> None:
    assert match("x = y", x=b"ab", y=b"ab")
    assert not match("x = y", x=b"ab", y=b"ac")
    assert match("x IS NOT NULL", x=b"")


def test_exotic_property_values_never_raise() -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no")

        __hash__ = object.__hash__

    assert truth("x = y", msg(x=Hostile(), y=Hostile())) is None
    assert truth("x = 1", msg(x=float("nan"))) is False
    assert truth("x < 1", msg(x=float("nan"))) is False


# -- arithmetic ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("10 - 4 - 3", 3),  # left associative
        ("100 / 10 / 5", 2),
        ("2 * 3 + 4 * 5", 26),
        ("-2 * 3", -6),
        ("- (2 + 3)", -5),
        ("+ 4 - + 1", 3),
        ("- - 4", 4),
        ("7 / 2", 3),  # integer division as Java's long
        ("-7 / 2", -3),  # truncates toward zero
        ("7 / -2", -3),
        ("7.0 / 2", 3.5),
        ("7 % 3", 1),
        ("-7 % 3", -1),  # the remainder takes the dividend's sign
        ("7 % -3", 1),
        ("7.5 % 2", 1.5),
        ("1.5 + 1", 2.5),
        ("9223372036854775807 + 1", -9223372036854775808),  # wraps like Java's long
    ],
)
def test_arithmetic(expr: str, expected: int | float) -> None:
    assert match(f"{expr} = v", v=expected)
    assert match(f"n * 0 + {expr} = v", n=5, v=expected)


def test_arithmetic_on_properties() -> None:
    assert match("price * quantity > 100", price=12.5, quantity=10)
    assert not match("price * quantity > 100", price=12.5, quantity=8)
    assert match("a - b * c / d = 8", a=10, b=4, c=2, d=4)


def test_division_by_zero_is_unknown() -> None:
    for text in ["n / 0 = 1", "n / z = 1", "n % 0 = 1", "n / 0.0 = 1", "1.5 / z > 0"]:
        assert truth(text, msg(n=4, z=0)) is None, text


def test_arithmetic_with_null_is_unknown() -> None:
    for text in ["missing + 1 = 1", "1 - missing = 1", "-missing = 1", "missing * 0 = 0"]:
        assert truth(text, msg()) is None, text


def test_huge_integer_mixed_with_float_is_unknown() -> None:
    assert truth("big * 1.5 > 0", msg(big=10**400)) is None
    assert truth("big > 1.5", msg(big=10**400)) is True


# -- BETWEEN -----------------------------------------------------------------------------------


def test_between_inclusive_and_mixed_numbers() -> None:
    assert match("age BETWEEN 15 AND 19", age=15)
    assert match("age BETWEEN 15 AND 19", age=19)
    assert match("age BETWEEN 15 AND 19", age=17.5)
    assert not match("age BETWEEN 15 AND 19", age=14.999)
    assert match("age BETWEEN 14.5 AND 19", age=15)
    assert match("age BETWEEN lo AND hi", age=5, lo=1.5, hi=7)
    assert match("age BETWEEN 10 - 5 AND 2 * 3", age=6)
    assert not match("age BETWEEN 19 AND 15", age=17)
    assert match("age NOT BETWEEN 15 AND 19", age=20)
    assert not match("age NOT BETWEEN 15 AND 19", age=16)
    assert match("age BETWEEN 1 AND 2 AND ok", age=1, ok=True)


def test_between_with_null() -> None:
    assert truth("age BETWEEN 1 AND 5", msg()) is None
    assert truth("age NOT BETWEEN 1 AND 5", msg()) is None
    assert truth("age BETWEEN lo AND 5", msg(age=3)) is None
    assert truth("age BETWEEN lo AND 5", msg(age=9)) is False  # above the known bound: FALSE anyway
    assert truth("age BETWEEN 1 AND hi", msg(age=0)) is False


# -- IN ------------------------------------------------------------------------------------------


def test_in_and_not_in() -> None:
    assert match("Country IN ('UK', 'US', 'France')", Country="UK")
    assert not match("Country IN ('UK', 'US', 'France')", Country="Peru")
    assert match("Country NOT IN ('UK', 'US', 'France')", Country="Peru")
    assert not match("Country NOT IN ('UK', 'US', 'France')", Country="US")
    assert match("c IN ('it''s')", c="it's")
    assert match("c IN ('single')", c="single")


def test_in_with_null_is_unknown() -> None:
    assert truth("Country IN ('UK', 'US')", msg()) is None
    assert truth("Country NOT IN ('UK', 'US')", msg()) is None


# -- LIKE ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("12%3", "123", True),
        ("12%3", "12993", True),
        ("12%3", "1234", False),
        ("l_se", "lose", True),
        ("l_se", "loose", False),
        ("%", "", True),
        ("_", "", False),
        ("", "", True),
        ("", "a", False),
        ("%%", "abc", True),
        ("a%b%c", "abc", True),
        ("a%b%c", "aXbYc", True),
        ("a%b%c", "acb", False),
        ("%b%", "abba", True),
        ("ab%ab", "ab", False),  # segments may not overlap
        ("ab%ab", "abab", True),
        ("_b_%", "abcdef", True),
        ("%_c", "abc", True),
        ("%x_z%", "aaxyzbb", True),
        ("%x_z%", "aaxzbb", False),
        ("a_c", "a\nc", True),  # '_' matches any character, newline too
        ("a%c", "a\n\nc", True),
        ("a.c", "abc", False),  # regex metacharacters are literal
        ("a.c", "a.c", True),
        ("[ab]*", "[ab]*", True),
        ("[ab]*", "a", False),
        ("^(x|y)$", "^(x|y)$", True),
        ("\\d+?", "\\d+?", True),
        ("\\d+?", "1", False),
        ("{1}", "{1}", True),
    ],
)
def test_like(pattern: str, value: str, expected: bool) -> None:
    quoted = pattern.replace("'", "''")
    assert match(f"s LIKE '{quoted}'", s=value) is expected
    assert match(f"s NOT LIKE '{quoted}'", s=value) is (not expected)


@pytest.mark.parametrize(
    ("pattern", "escape", "value", "expected"),
    [
        ("\\_%", "\\", "_foo", True),
        ("\\_%", "\\", "bar", False),
        ("100!%", "!", "100%", True),
        ("100!%", "!", "1000", False),
        ("a!!b", "!", "a!b", True),
        ("%!_%", "!", "a_b", True),
        ("%!_%", "!", "ab", False),
        ("a!b", "!", "a!b", True),  # an escape before an ordinary character stays literal
        ("ab!", "!", "ab!", True),
        ("x%%", "%", "x%", True),  # the escape may itself be a wildcard character
        ("x%%", "%", "xy", False),
        ("a.c", ".", "a.c", True),
        ("a$_", "$", "a_", True),
        ("a''_", "'", "a_", True),
    ],
)
def test_like_escape(pattern: str, escape: str, value: str, expected: bool) -> None:
    esc = escape.replace("'", "''")
    assert match(f"s LIKE '{pattern}' ESCAPE '{esc}'", s=value) is expected
    assert match(f"s NOT LIKE '{pattern}' escape '{esc}'", s=value) is (not expected)


def test_like_agrees_with_a_reference_matcher() -> None:
    def reference(pattern: str, value: str) -> bool:
        rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
        return re.fullmatch(rx, value, re.DOTALL) is not None

    patterns = ["%a_b%", "_%_", "a%", "%a", "%ab%ba%", "a__a", "%aa%aa", "b%%%b"]
    values = ["", "a", "ab", "aab", "abab", "aaaa", "abba", "baab", "aaxbb", "bab", "b\nb"]
    for p in patterns:
        s = sel(f"v LIKE '{p}'")
        for v in values:
            assert s.matches(msg(v=v)) is reference(p, v), (p, v)


def test_like_with_null_is_unknown() -> None:
    assert truth("s LIKE 'a%'", msg()) is None
    assert truth("s NOT LIKE 'a%'", msg()) is None


def test_like_has_no_catastrophic_backtracking() -> None:
    s = sel("s LIKE '" + "%a" * 40 + "%b'")
    assert not s.matches(msg(s="a" * 200_000))  # finishes at once; a regex would not


# -- IS NULL ---------------------------------------------------------------------------------------


def test_is_null() -> None:
    assert match("x IS NULL")
    assert match("x IS NULL", x=None)
    assert not match("x IS NULL", x=0)
    assert not match("x IS NULL", x="")
    assert match("x IS NOT NULL", x=False)
    assert not match("x IS NOT NULL")
    assert match("x is not null", x=1)
    assert match("(x + 1) IS NULL")  # NULL propagates through arithmetic
    assert match("(x = 1) IS NULL")  # UNKNOWN is a NULL truth value


# -- three-valued logic ---------------------------------------------------------------------------

T, F, U = True, False, None
VALUES = {T: "t", F: "f", U: "u"}  # properties t=TRUE, f=FALSE; u absent (UNKNOWN)
AND_TABLE = {
    (T, T): T, (T, F): F, (T, U): U,
    (F, T): F, (F, F): F, (F, U): F,
    (U, T): U, (U, F): F, (U, U): U,
}  # fmt: skip
OR_TABLE = {
    (T, T): T, (T, F): T, (T, U): T,
    (F, T): T, (F, F): F, (F, U): U,
    (U, T): T, (U, F): U, (U, U): U,
}  # fmt: skip
NOT_TABLE = {T: F, F: T, U: U}
LOGIC_MSG = msg(t=True, f=False)


@pytest.mark.parametrize(("a", "b"), list(AND_TABLE))
def test_and_truth_table(a: bool | None, b: bool | None) -> None:
    assert truth(f"{VALUES[a]} AND {VALUES[b]}", LOGIC_MSG) is AND_TABLE[(a, b)]
    # the same with comparisons producing the truth values
    cmp = {T: "n = 1", F: "n = 2", U: "missing = 1"}
    assert truth(f"{cmp[a]} AND {cmp[b]}", msg(n=1)) is AND_TABLE[(a, b)]


@pytest.mark.parametrize(("a", "b"), list(OR_TABLE))
def test_or_truth_table(a: bool | None, b: bool | None) -> None:
    assert truth(f"{VALUES[a]} OR {VALUES[b]}", LOGIC_MSG) is OR_TABLE[(a, b)]
    cmp = {T: "n = 1", F: "n = 2", U: "missing = 1"}
    assert truth(f"{cmp[a]} OR {cmp[b]}", msg(n=1)) is OR_TABLE[(a, b)]


@pytest.mark.parametrize("a", [T, F, U])
def test_not_truth_table(a: bool | None) -> None:
    assert truth(f"NOT {VALUES[a]}", LOGIC_MSG) is NOT_TABLE[a]
    assert truth(f"NOT NOT {VALUES[a]}", LOGIC_MSG) is a


def test_long_chains_keep_three_valued_logic() -> None:
    assert truth("u AND t AND t", LOGIC_MSG) is None
    assert truth("u AND t AND f", LOGIC_MSG) is False
    assert truth("u OR f OR f", LOGIC_MSG) is None
    assert truth("u OR f OR t", LOGIC_MSG) is True


def test_literal_truth_values() -> None:
    assert truth("TRUE", LOGIC_MSG) is True
    assert truth("FALSE", LOGIC_MSG) is False
    assert truth("NOT FALSE", LOGIC_MSG) is True


# -- precedence ------------------------------------------------------------------------------------


def test_not_binds_tighter_than_and_and_looser_than_comparison() -> None:
    # NOT a = 'x' is NOT (a = 'x') as in SQL-92
    assert sel("NOT a = 'x'").canonical == "(NOT (a = 'x'))"
    assert match("NOT a = 'x'", a="y")
    assert not match("NOT a = 'x'", a="x")
    assert sel("NOT a AND b").canonical == "((NOT a) AND b)"
    assert not match("NOT a AND b", a=True, b=True)
    assert match("NOT a AND b", a=False, b=True)


def test_and_binds_tighter_than_or() -> None:
    assert sel("a OR b AND c").canonical == "(a OR (b AND c))"
    assert match("a OR b AND c", a=True, b=False, c=False)
    assert not match("(a OR b) AND c", a=True, b=False, c=False)
    assert sel("a AND b OR c AND d").canonical == "((a AND b) OR (c AND d))"


def test_arithmetic_binds_tighter_than_comparison() -> None:
    assert sel("a + 1 > b * 2").canonical == "((a + 1) > (b * 2))"
    assert sel("a BETWEEN b - 1 AND b + 1").canonical == "(a BETWEEN (b - 1) AND (b + 1))"
    assert sel("-a * b = c").canonical == "(((-a) * b) = c)"


def test_parentheses_override_precedence() -> None:
    assert not match("a = 1 AND (b = 2 OR c = 3)", a=2, c=3)
    assert match("a = 1 AND b = 2 OR c = 3", a=2, c=3)


# -- keyword case and whitespace ------------------------------------------------------------------

TEMPLATES = [
    ["NOT", "a", "=", "'x'", "AND", "b", "BETWEEN", "1", "AND", "5", "OR", "c", "IS", "NOT", "NULL"],
    ["s", "NOT", "LIKE", "'a%\\_'", "ESCAPE", "'\\'", "AND", "s", "NOT", "IN", "(", "'x'", ",", "'y'", ")"],
    ["(", "b", "+", "2", ")", "*", "3", ">=", "b", "/", "2", "OR", "flag", "=", "TRUE", "OR", "FALSE"],
    ["c", "IS", "NULL", "AND", "NOT", "(", "b", "NOT", "BETWEEN", "-1", "AND", "1.5E1", ")"],
]
SAMPLE_MESSAGES = [
    msg(),
    msg(a="x", b=3, s="a%_", flag=True),
    msg(a="y", b=2.5, c=1, s="x"),
    msg(a="x", b=20, s="abc", flag=False),
]


@st.composite
def respelled(draw: st.DrawFn, template: list[str]) -> str:
    out = []
    for tok in template:
        if tok.isalpha() and tok.isupper():
            tok = "".join(ch.upper() if draw(st.booleans()) else ch.lower() for ch in tok)
        out.append(tok)
        out.append(draw(st.sampled_from([" ", "  ", "\t", "\n", "\r\n", " /* c */ ", "\f", " -- x\n"])))
    return draw(st.sampled_from(["", " ", "\n"])) + "".join(out)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), index=st.integers(0, len(TEMPLATES) - 1))
def test_keyword_case_and_whitespace_do_not_matter(data: st.DataObject, index: int) -> None:
    template = TEMPLATES[index]
    base = sel(" ".join(template))
    variant = sel(data.draw(respelled(template)))
    assert variant.canonical == base.canonical
    for m in SAMPLE_MESSAGES:
        assert variant.matches(m) is base.matches(m)


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason", "position"),
    [
        ("a =", "unexpected end of selector", 3),
        ("a = 'abc", "unterminated string literal", 4),
        ("a = 'it''s", "unterminated string literal", 4),
        ("/* never closed", "unterminated comment", 0),
        ('a = "x"', "unexpected character '\"'", 4),
        ("a = 1 # 2", "unexpected character '#'", 6),
        ("a == 1", "unexpected '='", 3),
        ("a != 1", "unexpected character '!'", 2),
        ("a = 1 b", "unexpected 'b'", 6),
        ("a = 1)", "unexpected ')'", 5),
        ("(a = 1", "expected ')' but found end of selector", 6),
        ("AND a = 1", "unexpected 'AND'", 0),
        ("a = 1 AND", "unexpected end of selector", 9),
        ("a = 1 OR OR b", "unexpected 'OR'", 9),
        ("a.b = 1", "unexpected character '.'", 1),
        ("1abc = a", "malformed number '1abc'", 0),
        ("a = 1e", "malformed number '1e'", 4),
        ("a = 0x", "malformed number '0x'", 4),
        ("a = 09", "malformed number '09'", 4),
        ("a = 1.2.3", "malformed number '1.2.3'", 4),
        ("a = 1e999", "number '1e999' out of range", 4),
        ("a = NULL", "NULL may only appear in IS NULL or IS NOT NULL", 4),
        ("a IS 1", "expected NULL but found '1'", 5),
        ("a IS NOT", "expected NULL but found end of selector", 8),
        ("a IN (1, 2)", "IN list items must be string literals, found '1'", 6),
        ("a IN ('x', b)", "IN list items must be string literals, found 'b'", 11),
        ("a IN ()", "IN list items must be string literals, found ')'", 6),
        ("a IN 'x'", "expected '(' but found \"'x'\"", 5),
        ("a IN ('x' 'y')", "expected ')' but found \"'y'\"", 10),
        ("a NOT IN ('x',)", "IN list items must be string literals, found ')'", 14),
        ("1 IN ('x')", "IN needs a string operand, found numeric 1", 0),
        ("a LIKE b", "the LIKE pattern must be a string literal, found 'b'", 7),
        ("a LIKE 'x' ESCAPE 'ab'", "ESCAPE must be exactly one character, got 'ab'", 18),
        ("a LIKE 'x' ESCAPE ''", "ESCAPE must be exactly one character, got ''", 18),
        ("a LIKE 'x' ESCAPE 1", "ESCAPE must be a string literal, found '1'", 18),
        ("2 LIKE 'x'", "LIKE needs a string operand, found numeric 2", 0),
        ("a BETWEEN 1", "expected AND but found end of selector", 11),
        ("a BETWEEN 1 OR 2", "expected AND but found 'OR'", 12),
        ("a BETWEEN 'x' AND 'z'", "expected a numeric expression but found string 'x'", 10),
        ("'x' BETWEEN 1 AND 2", "expected a numeric expression but found string 'x'", 0),
        ("a NOT = 1", "unexpected 'NOT'", 2),
        ("a = NOT b", "unexpected 'NOT'", 4),
        ("1", "expected a condition but found a numeric expression 1", 0),
        ("'yes'", "expected a condition but found a string expression 'yes'", 0),
        ("a + 1", "expected a condition but found a numeric expression (a + 1)", 2),
        ("a = 1 AND 2", "expected a condition but found a numeric expression 2", 10),
        ("NOT 'x'", "expected a condition but found a string expression 'x'", 4),
        ("'a' = 1", "cannot compare string 'a' with numeric 1", 4),
        ("TRUE = 1", "cannot compare boolean TRUE with numeric 1", 5),
        ("a + 1 = 'x'", "cannot compare numeric (a + 1) with string 'x'", 6),
        ("(a = 1) <> 'x'", "cannot compare boolean (a = 1) with string 'x'", 8),
        ("'a' < 'b'", "'<' needs numeric operands, found string 'a'", 0),
        ("a >= TRUE", "'>=' needs numeric operands, found boolean TRUE", 5),
        ("(a = 1) > b", "'>' needs numeric operands, found boolean (a = 1)", 3),
        ("a + 'x' = 1", "expected a numeric expression but found string 'x'", 4),
        ("-'x' = a", "expected a numeric expression but found string 'x'", 1),
        ("a * TRUE = 1", "expected a numeric expression but found boolean TRUE", 4),
        ("a = 1 = 2", "'=' cannot follow a comparison without parentheses", 6),
        ("a IS NULL = TRUE", "'=' cannot follow a comparison without parentheses", 10),
        ("a < b < c", "'<' cannot follow a comparison without parentheses", 6),
        ("a IS NULL + 1 = 2", "expected a numeric expression but found boolean (a IS NULL)", 2),
    ],
)
def test_errors(text: str, reason: str, position: int) -> None:
    with pytest.raises(InvalidSelector) as info:
        compile_selector(text)
    assert info.value.reason == reason
    assert info.value.position == position
    assert str(info.value) == f"invalid selector: {reason} at position {position}"


def test_error_messages_shorten_long_expressions() -> None:
    with pytest.raises(InvalidSelector) as info:
        compile_selector(" + ".join(["a"] * 1000))
    assert len(str(info.value)) < 200
    assert "..." in str(info.value)


def test_length_limit() -> None:
    pad = " " * (MAX_LENGTH - len("a = 1"))
    assert compile_selector("a = 1" + pad) is not None
    with pytest.raises(InvalidSelector, match=f"longer than {MAX_LENGTH} bytes"):
        compile_selector("a = 1" + pad + " ")
    with pytest.raises(InvalidSelector, match="longer than"):
        compile_selector("a = '" + "é" * (MAX_LENGTH // 2) + "'")  # counted in UTF-8 bytes


@pytest.mark.parametrize(
    "shape",
    [
        lambda k: "(" * k + "a = 1" + ")" * k,
        lambda k: "NOT " * k + "a = 1",
        lambda k: "a = 1 OR (" * k + "a = 1" + ")" * k,
        lambda k: "- " * k + "a = -1",
        lambda k: "a = " + "(1 + " * k + "0" + ")" * k,
    ],
)
def test_nesting_limit(shape: Any) -> None:
    s = sel(shape(MAX_DEPTH))
    assert s.matches(msg(a=1)) in (True, False)
    with pytest.raises(InvalidSelector, match=f"nested deeper than {MAX_DEPTH} levels"):
        compile_selector(shape(MAX_DEPTH + 1))


def test_long_flat_chains_compile_and_evaluate() -> None:
    assert match(" OR ".join(f"a = {i}" for i in range(3000)), a=2999)
    assert match(" AND ".join(["a = 1"] * 3000), a=1)
    assert match(" + ".join(["a"] * 3000) + " = 3000", a=1)
    assert match("a" + " * a" * 3000 + " = 1", a=1)


# -- fuzz: any text compiles, is empty, or raises InvalidSelector; matching never raises --------------

FUZZ_MESSAGE = msg(a=1, b="x", c=1.5, d=True, e=None, f=b"z", g="10")
SELECTOR_ALPHABET = st.sampled_from(list("abcdefgABCNOTRUEFLSIKWX0123456789.eE'\"()+-*/%<>=,_$ \t\n!#\\"))
TOKENS = st.sampled_from(
    ["a", "b", "c", "d", "e", "f", "g", "JMSPriority", "JMSType", "NOT", "AND", "OR", "BETWEEN", "LIKE", "IN"]
    + ["IS", "NULL", "TRUE", "FALSE", "ESCAPE", "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%"]
    + ["(", ")", ",", "1", "0", "2.5", "0x1F", "'x'", "'%'", "'_'", "'\\'", "1e3", "--", "/*", "*/"]
)


def _compile_or_reject(text: str) -> None:
    try:
        s = compile_selector(text)
    except InvalidSelector as e:
        assert e.reason
        return
    if s is None:
        assert not text.strip()
        return
    assert s.matches(FUZZ_MESSAGE) in (True, False)
    assert s.matches(msg()) in (True, False)
    assert sel(s.canonical).canonical == s.canonical  # the canonical form reparses to itself


@settings(max_examples=500, deadline=None)
@given(st.text(SELECTOR_ALPHABET, max_size=60) | st.text(max_size=40))
def test_fuzz_text(text: str) -> None:
    _compile_or_reject(text)


@settings(max_examples=500, deadline=None)
@given(st.lists(TOKENS, max_size=25))
def test_fuzz_tokens(tokens: list[str]) -> None:
    _compile_or_reject(" ".join(tokens))
