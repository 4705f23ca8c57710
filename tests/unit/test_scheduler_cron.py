from datetime import UTC, datetime

import pytest

from ferrymq.core.errors import InvalidRequest
from ferrymq.core.scheduler import CronSpec


def ms(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp() * 1000)


@pytest.mark.parametrize("expr,now,want", [
    ("* * * * *", ms(2026, 1, 1, 10, 0), ms(2026, 1, 1, 10, 1)),
    ("*/15 * * * *", ms(2026, 1, 1, 10, 1), ms(2026, 1, 1, 10, 15)),
    ("0 9 * * *", ms(2026, 1, 1, 10, 0), ms(2026, 1, 2, 9, 0)),
    ("30 8 1 * *", ms(2026, 1, 5), ms(2026, 2, 1, 8, 30)),
    ("0 0 * * 0", ms(2026, 11, 25), ms(2026, 11, 29)),  # next Sunday
    ("0 0 * * 7", ms(2026, 11, 25), ms(2026, 11, 29)),
    ("0 12 1-3 6 *", ms(2026, 7, 1), ms(2027, 6, 1, 12, 0)),
    ("5,10 * * * *", ms(2026, 1, 1, 0, 6), ms(2026, 1, 1, 0, 10)),
    ("0 0 13 * 5", ms(2026, 11, 1), ms(2026, 11, 6)),  # either day field may match
])
def test_next_fire_time(expr: str, now: int, want: int) -> None:
    assert CronSpec(expr).next_after(now) == want


@pytest.mark.parametrize("bad", ["", "* * * *", "61 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *",
                                 "5-1 * * * *", "* * 0 * *", "* * * 13 *"])
def test_invalid_cron(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        CronSpec(bad)


def test_never_firing_cron() -> None:
    with pytest.raises(InvalidRequest):
        CronSpec("0 0 31 2 *").next_after(ms(2026, 1, 1))
