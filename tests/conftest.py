"""Suite-wide test settings."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from .servers import PostgresServer, S3Server, ServerUnavailable, fresh_database, unavailable

# CI replays the same examples every run and never fails on timing alone (2 loaded cores);
# local runs keep exploring new examples, which is where new counterexamples are found.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the whole run; tests take a fresh database each (``postgres_url``)."""
    try:
        server = PostgresServer.start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """The URL of a new, empty database on the session's PostgreSQL."""
    return fresh_database(postgres_server)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-protocol server for the whole run; tests take a fresh prefix each."""
    try:
        server = S3Server.start()
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()
