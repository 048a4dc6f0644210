"""Store fixtures: every registered driver (plus SQLite in memory) runs the contract suite.

A new driver registers itself in ``bot.store``; if it needs a server, add a
branch to ``make_store`` that points it at a local one. PostgreSQL's is a real
server the suite starts (``tests/servers.py``); each test gets a new database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.settings import Secret, Settings
from bot.sqlite_store import MEMORY, SqliteJobStore
from bot.store import JobStore, create_store, drivers

STORE_KINDS = (*drivers(), "sqlite-memory")


def make_store(kind: str, data_dir: Path, database_url: str | None = None) -> JobStore:
    if kind == "sqlite-memory":
        return SqliteJobStore(Path(MEMORY))
    secret = Secret(database_url) if database_url else None
    return create_store(Settings(data_dir=data_dir, database_url=secret), kind)


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(store_kind: str, request: pytest.FixtureRequest) -> str | None:
    """A fresh database on the suite's PostgreSQL for the postgres driver; None for the others."""
    return str(request.getfixturevalue("postgres_url")) if store_kind == "postgres" else None


@pytest.fixture
async def store(store_kind: str, tmp_path: Path, database_url: str | None) -> AsyncIterator[JobStore]:
    opened = make_store(store_kind, tmp_path, database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
