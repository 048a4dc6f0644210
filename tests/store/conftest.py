"""Store fixtures: every registered driver (plus SQLite in memory) runs the contract suite.

A new driver registers itself in ``bot.store``; if it needs a server, add a
branch to ``make_store`` that points it at a local one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Settings
from bot.sqlite_store import MEMORY, SqliteJobStore
from bot.store import JobStore, create_store, drivers

STORE_KINDS = (*drivers(), "sqlite-memory")


def make_store(kind: str, data_dir: Path) -> JobStore:
    if kind == "sqlite-memory":
        return SqliteJobStore(Path(MEMORY))
    return create_store(Settings(data_dir=data_dir), kind)


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_kind: str, tmp_path: Path) -> AsyncIterator[JobStore]:
    opened = make_store(store_kind, tmp_path)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
