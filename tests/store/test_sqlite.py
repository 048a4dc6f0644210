"""What only the SQLite driver does: files, WAL, migrations, restart safety, one process per file."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import bot.sqlite_store as sqlite_store
from bot.errors import ConfigError
from bot.model import JobStatus, Role
from bot.settings import Settings
from bot.sqlite_store import MIGRATIONS, SqliteJobStore
from bot.store import (
    INTERRUPTED_WHILE_GATHERING,
    INTERRUPTED_WHILE_RUNNING,
    Caps,
    JobStore,
    create_store,
    open_store,
)

from .jobs import rich_job, simple_job


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


async def test_open_store_uses_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    store = await open_store(settings)
    try:
        assert isinstance(store, SqliteJobStore)
        await store.save(simple_job("where001"))
    finally:
        await store.close()
    assert settings.db_path.is_file()
    assert {"jobs", "job_references", "job_messages", "delivery_keys", "schema_version"} <= _tables(settings.db_path)


def test_unknown_driver_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sqlite"):
        create_store(Settings(data_dir=tmp_path), "cassandra")


async def test_wal_mode_and_schema_version(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        assert await store.schema_version() == len(MIGRATIONS)
    finally:
        await store.close()
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


async def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    await first.save(replace(rich_job(), status=JobStatus.SUCCEEDED))
    assert await first.first_delivery("evt-1") is True
    await first.close()

    second = SqliteJobStore(path)
    await second.open()
    try:
        assert await second.get("rich0001") == rich_job()
        assert await second.first_delivery("evt-1") is False  # de-duplication survives a restart
        assert await second.schema_version() == len(MIGRATIONS)
    finally:
        await second.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


async def test_a_new_migration_step_is_applied_to_an_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    await first.save(rich_job())
    await first.close()

    step = ("ALTER TABLE jobs ADD COLUMN note TEXT NOT NULL DEFAULT ''", "CREATE INDEX jobs_by_note ON jobs (note)")
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", (*MIGRATIONS, step))
    second = SqliteJobStore(path)
    await second.open()
    try:
        assert await second.schema_version() == len(MIGRATIONS) + 1
        assert await second.get("rich0001") == rich_job()
    finally:
        await second.close()
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
    assert "note" in columns


async def test_a_failing_migration_step_leaves_the_database_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    await first.close()

    broken = ("CREATE TABLE half_done (x INTEGER)", "ALTER TABLE no_such_table ADD COLUMN y TEXT")
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", (*MIGRATIONS, broken))
    second = SqliteJobStore(path)
    with pytest.raises(sqlite3.OperationalError):
        await second.open()
    assert "half_done" not in _tables(path)
    monkeypatch.setattr(sqlite_store, "MIGRATIONS", MIGRATIONS)
    third = SqliteJobStore(path)
    await third.open()  # the lock and the connection were released by the failed open
    try:
        assert await third.schema_version() == len(MIGRATIONS)
    finally:
        await third.close()


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    store = SqliteJobStore(path)
    await store.open()
    await store.close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", (len(MIGRATIONS) + 7,))
    with pytest.raises(ConfigError, match="newer"):
        await SqliteJobStore(path).open()


async def test_restart_resumes_claimed_jobs_and_interrupts_ungathered_ones(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    before = SqliteJobStore(path)
    await before.open()
    claimed = simple_job("claimed1", messages={"status": "m-1"})
    gathering = simple_job("gather01", references=())
    legacy = simple_job("running1", status=JobStatus.RUNNING)  # running before the queue was durable
    done = simple_job("done0001", status=JobStatus.SUCCEEDED, finished_at=1_234.5)
    failed = simple_job("failed01", status=JobStatus.FAILED, error="It broke.", finished_at=1_300.0)
    for job in (claimed, gathering, legacy, done, failed):
        await before.save(job)
    await before.enqueue(claimed.id, 2_000.0)
    assert await before.claim("dead-worker", ["discord"], Caps(4, 2), 3_600.0, 2_000.0) is not None
    await before.close()  # the process dies here: nothing on close touches job statuses

    after = SqliteJobStore(path)
    await after.open()
    try:
        assert await after.queue_positions(2_001.0) == {"claimed1": 1}  # its lease is free at once
        resumed = await after.claim("new-worker", ["discord"], Caps(4, 2), 30.0, 2_001.0)
        assert resumed is not None and resumed.job.id == "claimed1" and resumed.attempt == 2
        assert resumed.job.messages == {"status": "m-1"}  # its status message can still be edited
        was_gathering = await after.get("gather01")
        assert was_gathering is not None and was_gathering.status is JobStatus.INTERRUPTED
        assert was_gathering.error == INTERRUPTED_WHILE_GATHERING
        was_running = await after.get("running1")
        assert was_running is not None and was_running.status is JobStatus.INTERRUPTED
        assert was_running.error == INTERRUPTED_WHILE_RUNNING
        assert was_running.references == legacy.references  # everything needed for a retry is kept
        assert await after.get("done0001") == done
        assert await after.get("failed01") == failed
    finally:
        await after.close()


_OPEN_IN_ANOTHER_PROCESS = """
import asyncio, sys
from pathlib import Path
from bot.errors import ConfigError
from bot.sqlite_store import SqliteJobStore

async def main() -> str:
    store = SqliteJobStore(Path(sys.argv[1]))
    try:
        await store.open()
    except ConfigError as exc:
        return "refused: " + exc.user_message
    await store.close()
    return "opened"

print(asyncio.run(main()))
"""


def _open_in_another_process(path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _OPEN_IN_ANOTHER_PROCESS, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    return done.stdout.strip()


async def test_a_second_process_cannot_open_the_same_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    try:
        answer = await asyncio.to_thread(_open_in_another_process, path)
    finally:
        await first.close()
    assert answer.startswith("refused: Another mergebot process is using")
    assert await asyncio.to_thread(_open_in_another_process, path) == "opened"


async def test_a_database_abandoned_in_this_process_can_be_reopened(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    crashed = SqliteJobStore(path)
    await crashed.open()
    await crashed.save(simple_job("midway01", status=JobStatus.RUNNING))
    # no close(): the old service is simply dropped, as a killed process would be
    restarted = SqliteJobStore(path)
    await restarted.open()
    try:
        job = await restarted.get("midway01")
        assert job is not None and job.status is JobStatus.INTERRUPTED
    finally:
        await restarted.close()
        await crashed.close()
    assert await asyncio.to_thread(_open_in_another_process, path) == "opened"  # the shared lock was released


async def test_calls_before_open_fail_clearly(tmp_path: Path) -> None:
    store: JobStore = SqliteJobStore(tmp_path / "db.sqlite3")
    with pytest.raises(RuntimeError, match="not open"):
        await store.get("anything")


async def test_many_jobs_load_in_chunks(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "db.sqlite3")
    await store.open()
    try:
        for i in range(1_100):
            await store.save(simple_job(f"bulk{i:05d}", created_at=float(i), parent_id="bigparent"))
        children = await store.children("bigparent")
        assert len(children) == 1_100
        assert all(len(child.references) == 1 for child in children)
        assert children[-1] == simple_job("bulk01099", created_at=1_099.0, parent_id="bigparent")
    finally:
        await store.close()


def test_queries_use_indexes(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as db:
        for steps in MIGRATIONS:
            for statement in steps:
                db.execute(statement)
        plans = {
            "children": "SELECT * FROM jobs WHERE parent_id = ? ORDER BY created_at",
            "quota": "SELECT COUNT(*) FROM jobs WHERE platform = ? AND workspace_id = ? AND user_id = ? "
            "AND created_at >= ?",
            "cost": "SELECT SUM(cost_usd) FROM jobs WHERE platform = ? AND workspace_id = ? AND created_at >= ?",
            "channel": "SELECT * FROM jobs WHERE platform = ? AND channel_id = ? AND status = ? "
            "ORDER BY created_at DESC LIMIT 1",
            "message": "SELECT job_id FROM job_messages WHERE platform = ? AND message_id = ?",
            "unfinished": "SELECT id FROM jobs WHERE status = ?",
        }
        for name, sql in plans.items():
            plan = " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql, (1,) * sql.count("?")))
            assert "USING" in plan and "INDEX" in plan, (name, plan)


ROLES_MIGRATION = next(
    n for n, steps in enumerate(MIGRATIONS, start=1) if "job_references ADD COLUMN role" in " ".join(steps)
)


async def test_a_database_from_before_roles_gains_them_and_its_references_are_plain(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    first = SqliteJobStore(path)
    await first.open()
    try:
        await first.save(rich_job())
    finally:
        await first.close()
    with sqlite3.connect(path) as db:  # back to the schema and data from before roles
        db.execute("ALTER TABLE job_references DROP COLUMN role")
        db.execute("DROP INDEX jobs_by_lease")  # migration 4 (the lease index) came after roles
        db.execute("ALTER TABLE jobs DROP COLUMN posted_at")  # and migration 5 (when an outcome was shown)
        db.execute("DELETE FROM schema_version WHERE version >= ?", (ROLES_MIGRATION,))
    second = SqliteJobStore(path)
    await second.open()
    try:
        assert await second.schema_version() == len(MIGRATIONS)
        stored = await second.get("rich0001")
        assert stored is not None and {ref.role for ref in stored.references} == {Role.NONE}
        assert stored == replace(
            rich_job(), references=tuple(replace(r, role=Role.NONE) for r in rich_job().references)
        )
    finally:
        await second.close()
