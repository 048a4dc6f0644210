"""The SQLite job store: one file under the data directory, through aiosqlite.

One connection in WAL mode, every call serialised by an asyncio lock so a
multi-statement save is never interleaved with another call. The schema is
built by ``MIGRATIONS``, a list of steps applied in order and recorded in
``schema_version``; a new release appends steps and never edits old ones.
A lock file keeps a second process off the same database, so ``open`` can
safely treat unfinished jobs as left by a dead process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import aiosqlite

from .errors import ConfigError, JobNotFound
from .model import Job, JobStatus, Reference
from .settings import Settings
from .store import (
    INTERRUPTED_WHILE_GATHERING,
    INTERRUPTED_WHILE_QUEUED,
    INTERRUPTED_WHILE_RUNNING,
    PER_USER_DAILY,
    UNSHOWN_STATUSES,
    WORKSPACE_DAILY_COST,
    Caps,
    Claimed,
    Quota,
    Totals,
    register_driver,
)
from .store_rows import (
    CHARGED_USD,
    INSERT_REFERENCE,
    REFERENCE_COLUMNS,
    SELECT_JOBS,
    UPSERT_JOB,
    counted_images,
    job_from_row,
    job_row,
    reference_from_row,
    reference_row,
    storable,
)

log = logging.getLogger(__name__)

IMAGES_COUNTED, IMAGES_KEPT = counted_images("CAST(json_extract(options, '$.n') AS INTEGER)")

MEMORY = ":memory:"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: jobs, their references and messages, delivery de-duplication keys.
    (
        """CREATE TABLE jobs (
            id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            workspace_id TEXT NOT NULL,
            channel_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            thread_id TEXT,
            user_name TEXT NOT NULL,
            options TEXT NOT NULL,
            status TEXT NOT NULL,
            parent_id TEXT,
            action TEXT,
            sheet_digest TEXT,
            sheet_boxes TEXT NOT NULL,
            result_digests TEXT NOT NULL,
            usage TEXT,
            cost_usd REAL,
            error TEXT,
            warnings TEXT NOT NULL,
            created_at REAL NOT NULL,
            finished_at REAL,
            timings TEXT NOT NULL
        )""",
        "CREATE INDEX jobs_by_parent ON jobs (parent_id, created_at)",
        "CREATE INDEX jobs_by_workspace ON jobs (platform, workspace_id, created_at)",
        "CREATE INDEX jobs_by_user ON jobs (platform, workspace_id, user_id, created_at)",
        "CREATE INDEX jobs_by_channel ON jobs (platform, channel_id, status, created_at)",
        "CREATE INDEX jobs_by_status ON jobs (status)",
        """CREATE TABLE job_references (
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            label TEXT NOT NULL,
            digest TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            byte_size INTEGER NOT NULL,
            weight REAL NOT NULL,
            caption TEXT NOT NULL,
            author TEXT NOT NULL,
            source TEXT NOT NULL,
            PRIMARY KEY (job_id, position)
        )""",
        """CREATE TABLE job_messages (
            job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            platform TEXT NOT NULL,
            message_id TEXT NOT NULL,
            PRIMARY KEY (job_id, role)
        )""",
        "CREATE INDEX messages_by_id ON job_messages (platform, message_id)",
        """CREATE TABLE delivery_keys (
            key TEXT PRIMARY KEY,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX delivery_keys_by_expiry ON delivery_keys (expires_at)",
    ),
    # 2: reservations against the daily limits; the durable queue's claim order and leases.
    (
        "ALTER TABLE jobs ADD COLUMN reserved_usd REAL",
        "ALTER TABLE jobs ADD COLUMN released INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN queued_at REAL",
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_expires REAL",
        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX jobs_queue ON jobs (status, queued_at)",
    ),
    # 3: each reference's role (subject, style, scene, object, none, off); older rows are plain.
    ("ALTER TABLE job_references ADD COLUMN role TEXT NOT NULL DEFAULT 'none'",),
    # 4: counting live leases (the concurrency caps) without a scan.
    ("CREATE INDEX jobs_by_lease ON jobs (lease_expires)",),
    # 5: when a finished job's outcome was shown; until then a worker that died posting it is replaced.
    (
        "ALTER TABLE jobs ADD COLUMN posted_at REAL",
        "UPDATE jobs SET posted_at = COALESCE(finished_at, created_at) WHERE status NOT IN ('queued', 'running')",
    ),
)

# A job any worker may claim: enqueued, not finished, and nobody holds a live lease on it.
_CLAIMABLE = "j.status IN (?, ?) AND j.queued_at IS NOT NULL AND (j.lease_expires IS NULL OR j.lease_expires <= ?)"


def _claimable_params(now: float) -> tuple[object, ...]:
    return (JobStatus.QUEUED.value, JobStatus.RUNNING.value, now)


# A finished job whose outcome nobody showed (its worker died posting it), nobody holding its lease.
_UNSHOWN = (
    f"j.status IN ({', '.join('?' for _ in UNSHOWN_STATUSES)}) AND j.posted_at IS NULL AND j.queued_at IS NOT NULL "
    "AND (j.lease_expires IS NULL OR j.lease_expires <= ?)"
)
_UNSHOWN_STATUSES = tuple(status.value for status in UNSHOWN_STATUSES)


_SQL_VARIABLES_PER_QUERY = 500  # well under SQLite's limit on bound parameters


class SqliteJobStore:
    """``JobStore`` on a SQLite file (or ``:memory:``) through aiosqlite."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._lock_file: Path | None = None

    @property
    def in_memory(self) -> bool:
        return str(self.path) == MEMORY

    async def open(self) -> None:
        """Open the database, migrate its schema and mark jobs a dead process left unfinished."""
        if self._db is not None:
            return
        if not self.in_memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_file = _ProcessLock.claim(self.path)
        try:
            self._db = await aiosqlite.connect(str(self.path), isolation_level=None)
            await self._db.execute("PRAGMA foreign_keys = ON")
            await self._db.execute("PRAGMA busy_timeout = 5000")
            if not self.in_memory:
                await self._db.execute("PRAGMA journal_mode = WAL")
                await self._db.execute("PRAGMA synchronous = NORMAL")
            async with self._lock:
                await self._migrate(self._db)
                await self._recover(self._db)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection and let another process open the database."""
        db, self._db = self._db, None
        if db is not None:
            async with self._lock:
                await db.close()
        if self._lock_file is not None:
            _ProcessLock.release(self._lock_file)
            self._lock_file = None

    async def schema_version(self) -> int:
        """The number of migration steps applied to the database."""
        async with self._lock:
            return await _schema_version(self._conn())

    async def save(self, job: Job) -> None:
        """Insert or replace the job and its references; add or update its message ids.

        Message ids are merged, never dropped: an adapter records them with
        ``set_message`` while the pipeline keeps saving its own copy of the job.
        """
        async with self._lock, self._transaction() as db:
            await _write_job(db, job)

    async def admit(
        self, job: Job, reserve_usd: float, quota: Quota, *, gatherer: str | None = None, lease_until: float = 0.0
    ) -> str | None:
        origin = job.origin
        async with self._lock, self._transaction() as db:
            used = await _scalar(
                db,
                f"SELECT {IMAGES_COUNTED} FROM jobs WHERE platform = ? AND workspace_id = ? AND user_id = ? "
                "AND created_at >= ? AND released = 0",
                (origin.platform, origin.workspace_id, origin.user_id, quota.since),
            )
            if int(used) + job.options.n > quota.per_user_daily:
                return PER_USER_DAILY
            spent = float(
                await _scalar(
                    db,
                    f"SELECT {CHARGED_USD} WHERE platform = ? AND workspace_id = ? AND created_at >= ?",
                    (origin.platform, origin.workspace_id, quota.since),
                )
            )
            if spent >= quota.workspace_daily_usd or spent + reserve_usd > quota.workspace_daily_usd:
                return WORKSPACE_DAILY_COST
            await _write_job(db, job)
            await db.execute(
                "UPDATE jobs SET reserved_usd = ?, released = 0, lease_owner = ?, lease_expires = ? WHERE id = ?",
                (reserve_usd, gatherer, None if gatherer is None else lease_until, job.id),
            )
        return None

    async def release(self, job_id: str) -> None:
        async with self._lock, self._transaction() as db:
            await db.execute("UPDATE jobs SET released = 1 WHERE id = ?", (job_id,))

    async def release_unclaimed(self, job_id: str) -> bool:
        async with self._lock, self._transaction() as db:
            cursor = await db.execute(
                "UPDATE jobs SET released = 1 WHERE id = ? AND status = ? AND attempts = 0",
                (job_id, JobStatus.DELETED.value),
            )
            return cursor.rowcount > 0

    async def jobs_in_order(self, after: tuple[float, str] | None = None, limit: int = 500) -> list[Job]:
        """Every job, oldest first, ``limit`` at a time after ``(created_at, id)``: for copying a store."""
        if after is None:
            return await self._select("ORDER BY j.created_at, j.id LIMIT ?", (limit,))
        return await self._select(
            "WHERE (j.created_at, j.id) > (?, ?) ORDER BY j.created_at, j.id LIMIT ?", (*after, limit)
        )

    async def get(self, job_id: str) -> Job | None:
        jobs = await self._select("WHERE j.id = ?", (job_id,))
        return jobs[0] if jobs else None

    async def set_message(self, job_id: str, role: str, message_id: str) -> None:
        async with self._lock, self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO job_messages (job_id, role, platform, message_id) "
                "SELECT id, ?, platform, ? FROM jobs WHERE id = ? "
                "ON CONFLICT (job_id, role) DO UPDATE SET message_id = excluded.message_id",
                (role, message_id, job_id),
            )
            if cursor.rowcount == 0:
                raise JobNotFound(job_id)

    async def job_for_message(self, platform: str, message_id: str) -> Job | None:
        jobs = await self._select(
            "WHERE j.id = (SELECT m.job_id FROM job_messages AS m JOIN jobs AS o ON o.id = m.job_id "
            "WHERE m.platform = ? AND m.message_id = ? ORDER BY o.created_at DESC LIMIT 1)",
            (platform, message_id),
        )
        return jobs[0] if jobs else None

    async def children(self, job_id: str) -> list[Job]:
        return await self._select("WHERE j.parent_id = ? ORDER BY j.created_at, j.id", (job_id,))

    async def recent_jobs(self, platform: str, workspace_id: str, limit: int = 20) -> list[Job]:
        return await self._select(
            "WHERE j.platform = ? AND j.workspace_id = ? AND j.status != ? "
            "ORDER BY j.created_at DESC, j.id DESC LIMIT ?",
            (platform, workspace_id, JobStatus.DELETED.value, max(0, limit)),
        )

    async def enqueue(self, job_id: str, now: float) -> bool:
        async with self._lock, self._transaction() as db:
            cursor = await db.execute(
                "UPDATE jobs SET queued_at = ?, lease_owner = NULL, lease_expires = NULL "
                "WHERE id = ? AND queued_at IS NULL AND status = ?",
                (now, job_id, JobStatus.QUEUED.value),
            )
            return cursor.rowcount > 0

    async def expire_gathering(self, platforms: Sequence[str], now: float) -> list[Job]:
        if not platforms:
            return []
        marks = ", ".join("?" for _ in platforms)
        gathering = f"status = ? AND queued_at IS NULL AND lease_expires <= ? AND platform IN ({marks})"
        params = (JobStatus.QUEUED.value, now, *platforms)
        async with self._lock, self._transaction() as db:
            rows = list(await db.execute_fetchall(f"SELECT id FROM jobs WHERE {gathering}", params))
            await db.execute(
                "UPDATE jobs SET status = ?, error = ?, finished_at = ?, released = 1, lease_owner = NULL, "
                f"lease_expires = NULL WHERE {gathering}",
                (JobStatus.INTERRUPTED.value, INTERRUPTED_WHILE_GATHERING, now, *params),
            )
        expired = [await self.get(str(row[0])) for row in rows]
        return [job for job in expired if job is not None]

    async def claim(
        self, owner: str, platforms: Sequence[str], caps: Caps, lease_s: float, now: float
    ) -> Claimed | None:
        if not platforms:
            return None
        marks = ", ".join("?" for _ in platforms)
        started = time.monotonic()
        async with self._lock, self._transaction() as db:
            now += time.monotonic() - started  # waiting for the lock took time too (see the PostgreSQL claim)
            running = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
            held = await _scalar(
                db,
                "SELECT COUNT(*) FROM jobs WHERE lease_expires > ? AND status IN (?, ?) AND queued_at IS NOT NULL",
                (now, *running),
            )
            room = int(held) < caps.global_concurrency  # a job to show takes no slot, so it may still go
            rows = list(
                await db.execute_fetchall(
                    f"SELECT j.id, j.attempts FROM jobs AS j WHERE j.platform IN ({marks}) AND ("
                    f"({_CLAIMABLE} AND ? AND (SELECT COUNT(*) FROM jobs AS r WHERE r.lease_expires > ? "
                    "AND r.status IN (?, ?) AND r.queued_at IS NOT NULL AND r.platform = j.platform "
                    "AND r.workspace_id = j.workspace_id "
                    f"AND r.user_id = j.user_id) < ?) OR ({_UNSHOWN})) "
                    "ORDER BY j.queued_at, j.id LIMIT 1",
                    (
                        *platforms,
                        *_claimable_params(now),
                        room,
                        now,
                        *running,
                        caps.per_user_concurrency,
                        *_UNSHOWN_STATUSES,
                        now,
                    ),
                )
            )
            if not rows:
                return None
            job_id, attempts = str(rows[0][0]), int(rows[0][1])
            await db.execute(
                "UPDATE jobs SET status = CASE WHEN status = ? THEN ? ELSE status END, lease_owner = ?, "
                "lease_expires = ?, attempts = ? WHERE id = ?",
                (*running, owner, now + lease_s, attempts + 1, job_id),
            )
        job = await self.get(job_id)
        return None if job is None else Claimed(job, attempts + 1)

    async def renew(self, job_id: str, owner: str, lease_s: float, now: float) -> bool:
        started = time.monotonic()
        async with self._lock, self._transaction() as db:
            now += time.monotonic() - started
            cursor = await db.execute(
                "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND lease_expires IS NOT NULL",
                (now + lease_s, job_id, owner),
            )
            return cursor.rowcount > 0

    async def end_lease(self, job_id: str, owner: str, *, shown: bool = True) -> None:
        async with self._lock, self._transaction() as db:
            await db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires = NULL, posted_at = CASE "
                "WHEN ? AND status IN (?, ?) AND posted_at IS NULL THEN ? ELSE posted_at END "
                "WHERE id = ? AND lease_owner = ?",
                (shown, *_UNSHOWN_STATUSES, time.time(), job_id, owner),
            )

    async def queue_positions(self, now: float) -> dict[str, int]:
        async with self._lock:
            rows = await self._conn().execute_fetchall(
                f"SELECT j.id FROM jobs AS j WHERE {_CLAIMABLE} ORDER BY j.queued_at, j.id", _claimable_params(now)
            )
        return {str(row[0]): place for place, row in enumerate(rows, start=1)}

    async def taken_elsewhere(self, job_ids: Sequence[str], owner: str, now: float) -> set[str]:
        taken: set[str] = set()
        ids = list(job_ids)
        async with self._lock:
            for start in range(0, len(ids), _SQL_VARIABLES_PER_QUERY):
                chunk = ids[start : start + _SQL_VARIABLES_PER_QUERY]
                marks = ", ".join("?" for _ in chunk)
                rows = await self._conn().execute_fetchall(
                    f"SELECT id FROM jobs WHERE id IN ({marks}) AND queued_at IS NOT NULL "
                    "AND ((lease_expires > ? AND lease_owner != ?) OR status NOT IN (?, ?))",
                    (*chunk, now, owner, JobStatus.QUEUED.value, JobStatus.RUNNING.value),
                )
                taken.update(str(row[0]) for row in rows)
        return taken

    async def expire_unclaimed(self, created_before: float, now: float) -> list[Job]:
        async with self._lock, self._transaction() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT j.id, j.attempts FROM jobs AS j WHERE {_CLAIMABLE} AND j.created_at < ?",
                    (*_claimable_params(now), created_before),
                )
            )
            for job_id, attempts in rows:
                await db.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = ?, lease_owner = NULL, lease_expires = NULL, "
                    "released = CASE WHEN ? THEN released ELSE 1 END WHERE id = ?",
                    (
                        JobStatus.INTERRUPTED.value,
                        INTERRUPTED_WHILE_RUNNING if attempts else INTERRUPTED_WHILE_QUEUED,
                        now,
                        bool(attempts),
                        job_id,
                    ),
                )
        expired = [await self.get(str(row[0])) for row in rows]
        return [job for job in expired if job is not None]

    async def count_user_jobs_since(self, platform: str, workspace_id: str, user_id: str, since: float) -> int:
        row = await self._one(
            f"SELECT {IMAGES_COUNTED} FROM jobs WHERE platform = ? AND workspace_id = ? AND user_id = ? "
            "AND created_at >= ? AND released = 0",
            (platform, workspace_id, user_id, since),
        )
        return int(row[0])

    async def cost_since(self, platform: str, workspace_id: str, since: float) -> float:
        row = await self._one(
            f"SELECT {CHARGED_USD} WHERE platform = ? AND workspace_id = ? AND created_at >= ?",
            (platform, workspace_id, since),
        )
        return float(row[0])

    async def totals_since(
        self, platform: str, workspace_id: str, since: float, user_id: str | None = None
    ) -> Totals:
        query = (
            f"SELECT {IMAGES_KEPT}, {CHARGED_USD} "
            "WHERE platform = ? AND workspace_id = ? AND created_at >= ?"
        )
        parameters: tuple[str | float, ...] = (platform, workspace_id, since)
        if user_id is not None:
            query += " AND user_id = ?"
            parameters += (user_id,)
        row = await self._one(query, parameters)
        return Totals(int(row[0]), float(row[1]))

    async def last_result_in_channel(self, platform: str, channel_id: str) -> Job | None:
        jobs = await self._select(
            "WHERE j.platform = ? AND j.channel_id = ? AND j.status = ? ORDER BY j.created_at DESC, j.id DESC LIMIT 1",
            (platform, channel_id, JobStatus.SUCCEEDED.value),
        )
        return jobs[0] if jobs else None

    async def first_delivery(self, key: str, ttl_s: float = 3600) -> bool:
        now = time.time()
        async with self._lock, self._transaction() as db:
            await db.execute("DELETE FROM delivery_keys WHERE expires_at <= ?", (now,))
            cursor = await db.execute(
                "INSERT INTO delivery_keys (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, now + ttl_s),
            )
            return bool(cursor.rowcount == 1)

    async def referenced_digests(self) -> set[str]:
        deleted = JobStatus.DELETED.value
        async with self._lock:
            rows = await self._conn().execute_fetchall(
                "SELECT r.digest FROM job_references AS r JOIN jobs AS j ON j.id = r.job_id "
                "WHERE j.status != ? "
                "UNION SELECT sheet_digest FROM jobs WHERE status != ? AND sheet_digest IS NOT NULL "
                "UNION SELECT d.value FROM jobs AS j, json_each(j.result_digests) AS d WHERE j.status != ? "
                # A refine's picture to edit and its mask live in its options.
                "UNION SELECT json_extract(options, '$.refine.base') FROM jobs WHERE status != ? "
                "UNION SELECT json_extract(options, '$.refine.mask') FROM jobs WHERE status != ?",
                (deleted, deleted, deleted, deleted, deleted),
            )
        return {str(row[0]) for row in rows if row[0] is not None}

    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("the job store is not open")
        return self._db

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        db = self._conn()
        await db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")

    async def _one(self, sql: str, params: Sequence[object]) -> Sequence[Any]:
        async with self._lock:
            rows = list(await self._conn().execute_fetchall(sql, params))
        return tuple(rows[0])

    async def _select(self, where: str, params: Sequence[object]) -> list[Job]:
        async with self._lock:
            db = self._conn()
            rows = list(await db.execute_fetchall(f"{SELECT_JOBS} {where}", params))
            if not rows:
                return []
            ids = [str(row[0]) for row in rows]
            references: dict[str, list[Reference]] = {job_id: [] for job_id in ids}
            messages: dict[str, dict[str, str]] = {job_id: {} for job_id in ids}
            for chunk in _chunks(ids, _SQL_VARIABLES_PER_QUERY):
                marks = ", ".join("?" for _ in chunk)
                for ref_row in await db.execute_fetchall(
                    f"SELECT {', '.join(REFERENCE_COLUMNS)} FROM job_references "
                    f"WHERE job_id IN ({marks}) ORDER BY job_id, position",
                    chunk,
                ):
                    references[str(ref_row[0])].append(reference_from_row(ref_row))
                for msg_row in await db.execute_fetchall(
                    f"SELECT job_id, role, message_id FROM job_messages WHERE job_id IN ({marks}) ORDER BY rowid",
                    chunk,
                ):
                    messages[str(msg_row[0])][str(msg_row[1])] = str(msg_row[2])
        return [job_from_row(row, references[str(row[0])], messages[str(row[0])]) for row in rows]

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        await db.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        current = await _schema_version(db)
        if current > len(MIGRATIONS):
            raise ConfigError(
                f"The database {self.path} has schema version {current}, newer than this mergebot "
                f"understands ({len(MIGRATIONS)}). Upgrade mergebot or use another MERGEBOT_DATA_DIR."
            )
        for version, steps in enumerate(MIGRATIONS[current:], start=current + 1):
            await db.execute("BEGIN IMMEDIATE")
            try:
                for statement in steps:
                    await db.execute(statement)
                await db.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, time.time())
                )
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
            log.info("job store schema migrated to version %d", version)

    async def _recover(self, db: aiosqlite.Connection) -> None:
        """This process owns the database (the lock file), so whatever the last one held is free:
        its running jobs are claimable again at once; jobs it was still gathering images for
        cannot resume (nothing of them is stored): their gathering leases are over, so the
        worker's ``expire_gathering`` tells their people, and those from before gathering had
        leases are interrupted and released here."""
        now = time.time()
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.execute("UPDATE jobs SET lease_expires = 0 WHERE lease_expires IS NOT NULL AND queued_at IS NULL")
            freed = await db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires = NULL "
                "WHERE lease_expires IS NOT NULL AND queued_at IS NOT NULL"
            )
            lost = 0
            for status, text, released in (
                (JobStatus.QUEUED.value, INTERRUPTED_WHILE_GATHERING, 1),
                (JobStatus.RUNNING.value, INTERRUPTED_WHILE_RUNNING, 0),  # from before the queue was durable
            ):
                cursor = await db.execute(
                    "UPDATE jobs SET status = ?, error = ?, finished_at = COALESCE(finished_at, ?), "
                    "released = MAX(released, ?) WHERE status = ? AND queued_at IS NULL AND lease_expires IS NULL",
                    (JobStatus.INTERRUPTED.value, text, now, released, status),
                )
                lost += max(0, cursor.rowcount)
        except BaseException:
            await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
        if freed.rowcount > 0:
            log.warning("%d job(s) the previous run was working on will resume", freed.rowcount)
        if lost:
            log.warning("marked %d job(s) the previous run was still gathering as interrupted", lost)


async def _write_job(db: aiosqlite.Connection, job: Job) -> None:
    """Upsert the job and its references, merging its message ids (inside a transaction)."""
    await db.execute(UPSERT_JOB, job_row(job))
    await db.execute("DELETE FROM job_references WHERE job_id = ?", (job.id,))
    await db.executemany(INSERT_REFERENCE, [reference_row(job.id, i, r) for i, r in enumerate(job.references)])
    await db.executemany(
        "INSERT INTO job_messages (job_id, role, platform, message_id) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (job_id, role) DO UPDATE SET message_id = excluded.message_id",
        [storable((job.id, role, job.origin.platform, mid)) for role, mid in job.messages.items()],
    )


async def _scalar(db: aiosqlite.Connection, sql: str, params: Sequence[object]) -> Any:
    rows = list(await db.execute_fetchall(sql, params))
    return rows[0][0]


async def _schema_version(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
    return int(rows[0][0])


class _ProcessLock:
    """An exclusive lock file per database, so two processes never share one.

    Stores opened on the same file inside one process share the lock (counted),
    which lets a test reopen a database it abandoned, as a restarted process would.
    """

    _held: ClassVar[dict[Path, tuple[int, int]]] = {}  # lock file -> (fd, holders)

    @classmethod
    def claim(cls, database: Path) -> Path:
        key = database.resolve().with_name(database.name + ".lock")
        if key in cls._held:
            fd, holders = cls._held[key]
            cls._held[key] = (fd, holders + 1)
            return key
        fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"Another mergebot process is using {database}. Stop it, or give this one its own MERGEBOT_DATA_DIR."
            ) from None
        cls._held[key] = (fd, 1)
        return key

    @classmethod
    def release(cls, key: Path) -> None:
        fd, holders = cls._held.pop(key)
        if holders > 1:
            cls._held[key] = (fd, holders - 1)
            return
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _open_from_settings(settings: Settings) -> SqliteJobStore:
    return SqliteJobStore(settings.db_path)


register_driver("sqlite", _open_from_settings)
