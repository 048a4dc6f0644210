"""What only the PostgreSQL driver has to get right: replicas starting together, and clear refusals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from bot.errors import ConfigError
from bot.model import JobStatus
from bot.postgres_store import MIGRATIONS, PostgresJobStore, describe
from bot.settings import Settings
from bot.store import Caps, Quota, create_store

from ..servers import free_port
from .jobs import simple_job


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    replicas = [PostgresJobStore(postgres_url) for _ in range(6)]
    await asyncio.gather(*(replica.open() for replica in replicas))
    try:
        assert {await replica.schema_version() for replica in replicas} == {len(MIGRATIONS)}
        await replicas[0].save(simple_job("shared01"))
        assert await replicas[5].get("shared01") == simple_job("shared01")
        connection = await asyncpg.connect(postgres_url)
        try:
            assert await connection.fetchval("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)
        finally:
            await connection.close()
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))


async def test_open_leaves_other_replicas_running_jobs_alone(postgres_url: str) -> None:
    first = PostgresJobStore(postgres_url)
    await first.open()
    await first.save(simple_job("running1", status=JobStatus.RUNNING))
    second = PostgresJobStore(postgres_url)
    await second.open()
    try:
        loaded = await second.get("running1")
        assert loaded is not None
        assert loaded.status is JobStatus.RUNNING
    finally:
        await second.close()
        await first.close()


async def test_a_database_from_a_newer_release_is_refused(postgres_url: str) -> None:
    store = PostgresJobStore(postgres_url)
    await store.open()
    await store.close()
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute("INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)", len(MIGRATIONS) + 1)
    finally:
        await connection.close()
    with pytest.raises(ConfigError, match="newer than this mergebot understands"):
        await PostgresJobStore(postgres_url).open()


async def test_an_unreachable_server_is_one_clear_line_without_the_password() -> None:
    url = f"postgresql://mergebot:hunter2-not-real@127.0.0.1:{free_port()}/mergebot"
    with pytest.raises(ConfigError) as caught:
        await PostgresJobStore(url).open()
    text = str(caught.value)
    assert "127.0.0.1" in text and "MERGEBOT_DATABASE_URL" in text
    assert "hunter2" not in text and "\n" not in text
    assert "hunter2" not in repr(PostgresJobStore(url))


def test_the_database_url_chooses_the_driver(tmp_path: Path) -> None:
    settings = Settings.from_env({"MERGEBOT_DATABASE_URL": "postgresql://bot:pw@db.internal/mergebot"})
    assert settings.store_driver == "postgres"
    assert "pw" not in repr(settings)
    assert isinstance(create_store(settings), PostgresJobStore)
    assert describe("postgresql://bot:pw@db.internal/mergebot") == "db.internal:5432/mergebot"
    with pytest.raises(ConfigError, match="postgresql://"):
        Settings.from_env({"MERGEBOT_DATABASE_URL": "mysql://bot@db/mergebot"})
    with pytest.raises(ConfigError, match="MERGEBOT_DATABASE_URL"):
        create_store(Settings(data_dir=tmp_path), "postgres")


async def test_a_lease_is_renewed_while_every_pooled_connection_is_busy(postgres_url: str) -> None:
    """A burst of other calls (admissions queued on a workspace's lock) holds the whole pool: the
    renewal of a running job's lease must not wait behind them, or another replica takes the job."""
    store = PostgresJobStore(postgres_url, pool_max_size=2)
    await store.open()
    try:
        job = simple_job("renewbsy", created_at=time.time())
        assert await store.admit(job, 0.1, Quota(since=0.0, per_user_daily=10, workspace_daily_usd=10.0)) is None
        await store.enqueue(job.id, time.time())
        caps = Caps(global_concurrency=1, per_user_concurrency=1)
        assert await store.claim("w1", ["discord"], caps, 30.0, time.time()) is not None
        assert store._pool is not None
        held = [await store._pool.acquire() for _ in range(2)]  # the burst
        try:
            async with asyncio.timeout(5):
                assert await store.renew(job.id, "w1", 30.0, time.time())
                await store.end_lease(job.id, "w1")
        finally:
            for connection in held:
                await store._pool.release(connection)
    finally:
        await store.close()
