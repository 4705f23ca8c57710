from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import BrokerProcess  # noqa: E402


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[object]:
    started: list[BrokerProcess] = []

    def make(protocols: tuple[str, ...] = ("stomp",), name: str = "data", **kw: object) -> BrokerProcess:
        b = BrokerProcess(tmp_path / name, protocols, **kw)  # type: ignore[arg-type]
        b.start()
        started.append(b)
        return b

    yield make
    for b in started:
        b.kill()


@pytest.fixture
def stomp_broker(broker_factory: object) -> BrokerProcess:
    return broker_factory()  # type: ignore[operator,no-any-return]
