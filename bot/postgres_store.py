"""The PostgreSQL job store, for several replicas sharing one database (asyncpg, pooled).

Chosen by ``MERGEBOT_DATABASE_URL=postgresql://…``. Rows have the layout of
``bot.store_rows``, the same as the SQLite driver's; the schema is built by
``MIGRATIONS``, applied in order at ``open`` and recorded in ``schema_version``
under a transaction-scoped advisory lock, so replicas starting together migrate
once. Unlike the SQLite driver, ``open`` marks nothing interrupted: other
replicas may be running those jobs.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg

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

IMAGES_COUNTED, IMAGES_KEPT = counted_images("(options::jsonb ->> 'n')::int")

MIGRATE_LOCK = 0x6D657267  # "merg": the advisory lock key replicas take while migrating
POOL_MAX_SIZE = 10
# Renewing a lease must never wait for a connection behind a burst of other calls (admissions
# queue on one workspace's lock, each holding a connection): a late renewal loses the job to
# another replica while this one still runs it. Leases have connections of their own.
LEASE_POOL_SIZE = 2

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
            cost_usd DOUBLE PRECISION,
            error TEXT,
            warnings TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            finished_at DOUBLE PRECISION,
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
            byte_size BIGINT NOT NULL,
            weight DOUBLE PRECISION NOT NULL,
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
            recorded BIGINT GENERATED ALWAYS AS IDENTITY,
            PRIMARY KEY (job_id, role)
        )""",
        "CREATE INDEX messages_by_id ON job_messages (platform, message_id)",
        """CREATE TABLE delivery_keys (
            key TEXT PRIMARY KEY,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX delivery_keys_by_expiry ON delivery_keys (expires_at)",
    ),
    # 2: reservations against the daily limits; the durable queue's claim order and leases.
    (
        "ALTER TABLE jobs ADD COLUMN reserved_usd DOUBLE PRECISION",
        "ALTER TABLE jobs ADD COLUMN released INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN queued_at DOUBLE PRECISION",
        "ALTER TABLE jobs ADD COLUMN lease_owner TEXT",
        "ALTER TABLE jobs ADD COLUMN lease_expires DOUBLE PRECISION",
        "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
        "CREATE INDEX jobs_queue ON jobs (status, queued_at)",
    ),
    # 3: each reference's role (subject, style, scene, object, none, off); older rows are plain.
    ("ALTER TABLE job_references ADD COLUMN role TEXT NOT NULL DEFAULT 'none'",),
    # 4: counting live leases (the concurrency caps) without a scan.
    ("CREATE INDEX jobs_by_lease ON jobs (lease_expires)",),
    # 5: when a finished job's outcome was shown; until then a worker that died posting it is replaced.
    (
        "ALTER TABLE jobs ADD COLUMN posted_at DOUBLE PRECISION",
        "UPDATE jobs SET posted_at = COALESCE(finished_at, created_at) WHERE status NOT IN ('queued', 'running')",
    ),
)

CLAIM_LOCK = 0x636C6169  # "clai": held while a replica claims, so the caps hold across replicas
# A job waiting to run: enqueued, not finished, and nobody holds a live lease on it ($1-$3).
_CLAIMABLE = "j.status IN ($1, $2) AND j.queued_at IS NOT NULL AND (j.lease_expires IS NULL OR j.lease_expires <= $3)"
# A finished job whose outcome nobody showed (its worker died posting it), nobody holding its lease ($3, $6, $7).
_UNSHOWN = (
    "j.status IN ($6, $7) AND j.posted_at IS NULL AND j.queued_at IS NOT NULL "
    "AND (j.lease_expires IS NULL OR j.lease_expires <= $3)"
)


def _claimable_params(now: float) -> tuple[object, ...]:
    return (JobStatus.QUEUED.value, JobStatus.RUNNING.value, now)


_UNSHOWN_STATUSES = tuple(status.value for status in UNSHOWN_STATUSES)


_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """The shared row statements use ``?``; PostgreSQL numbers its parameters (``$1``, ``$2``…)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


_UPSERT_JOB = numbered(UPSERT_JOB)
_INSERT_REFERENCE = numbered(INSERT_REFERENCE)


def _rows_changed(status: str) -> int:
    """asyncpg reports ``INSERT 0 1`` / ``UPDATE 3``: the last number is the row count."""
    return int(status.rsplit(" ", 1)[-1])


def describe(url: str) -> str:
    """Host, port and database of a URL, never its password: safe for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


class PostgresJobStore:
    """``JobStore`` on PostgreSQL through an asyncpg pool."""

    def __init__(self, url: str, *, pool_max_size: int = POOL_MAX_SIZE) -> None:
        self._url = url
        self._pool_max_size = pool_max_size
        self._pool: asyncpg.Pool | None = None
        self._lease_pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"PostgresJobStore({describe(self._url)!r})"

    async def open(self) -> None:
        """Connect and migrate the schema (once, even when several replicas start together)."""
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=self._pool_max_size, command_timeout=60
            )
            self._lease_pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=LEASE_POOL_SIZE, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()
            raise ConfigError(
                f"Cannot open the PostgreSQL database at {describe(self._url)}: {type(exc).__name__}. "
                "Check MERGEBOT_DATABASE_URL and that the server is up."
            ) from None
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        for pool in (self._pool, self._lease_pool):
            if pool is not None:
                await pool.close()
        self._pool = self._lease_pool = None

    async def schema_version(self) -> int:
        """The number of migration steps applied to the database."""
        async with self._conn() as conn:
            return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))

    async def save(self, job: Job) -> None:
        async with self._conn() as conn, conn.transaction():
            await _write_job(conn, job)

    async def admit(
        self, job: Job, reserve_usd: float, quota: Quota, *, gatherer: str | None = None, lease_until: float = 0.0
    ) -> str | None:
        origin = job.origin
        async with self._conn() as conn, conn.transaction():
            # Admissions of one workspace queue behind this lock, so two replicas never both see room.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"{origin.platform}:{origin.workspace_id}"
            )
            used = await conn.fetchval(
                f"SELECT {IMAGES_COUNTED} FROM jobs WHERE platform = $1 AND workspace_id = $2 AND user_id = $3 "
                "AND created_at >= $4 AND released = 0",
                origin.platform,
                origin.workspace_id,
                origin.user_id,
                quota.since,
            )
            if int(used) + job.options.n > quota.per_user_daily:
                return PER_USER_DAILY
            spent = float(
                await conn.fetchval(
                    f"SELECT {CHARGED_USD} WHERE platform = $1 AND workspace_id = $2 AND created_at >= $3",
                    origin.platform,
                    origin.workspace_id,
                    quota.since,
                )
            )
            if spent >= quota.workspace_daily_usd or spent + reserve_usd > quota.workspace_daily_usd:
                return WORKSPACE_DAILY_COST
            await _write_job(conn, job)
            await conn.execute(
                "UPDATE jobs SET reserved_usd = $1, released = 0, lease_owner = $2, lease_expires = $3 WHERE id = $4",
                reserve_usd,
                gatherer,
                None if gatherer is None else lease_until,
                job.id,
            )
        return None

    async def release(self, job_id: str) -> None:
        async with self._conn() as conn:
            await conn.execute("UPDATE jobs SET released = 1 WHERE id = $1", job_id)

    async def release_unclaimed(self, job_id: str) -> bool:
        async with self._conn() as conn:
            status = await conn.execute(
                "UPDATE jobs SET released = 1 WHERE id = $1 AND status = $2 AND attempts = 0",
                job_id,
                JobStatus.DELETED.value,
            )
        return _rows_changed(status) > 0

    async def enqueue(self, job_id: str, now: float) -> bool:
        async with self._conn() as conn:
            status = await conn.execute(
                "UPDATE jobs SET queued_at = $1, lease_owner = NULL, lease_expires = NULL "
                "WHERE id = $2 AND queued_at IS NULL AND status = $3",
                now,
                job_id,
                JobStatus.QUEUED.value,
            )
        return _rows_changed(status) > 0

    async def expire_gathering(self, platforms: Sequence[str], now: float) -> list[Job]:
        if not platforms:
            return []
        async with self._conn() as conn:
            rows = await conn.fetch(
                "UPDATE jobs SET status = $1, error = $2, finished_at = $3, released = 1, lease_owner = NULL, "
                "lease_expires = NULL WHERE status = $4 AND queued_at IS NULL AND lease_expires <= $3 "
                "AND platform = ANY($5::text[]) RETURNING id",
                JobStatus.INTERRUPTED.value,
                INTERRUPTED_WHILE_GATHERING,
                now,
                JobStatus.QUEUED.value,
                list(platforms),
            )
        expired = [await self.get(str(row[0])) for row in rows]
        return [job for job in expired if job is not None]

    async def claim(
        self, owner: str, platforms: Sequence[str], caps: Caps, lease_s: float, now: float
    ) -> Claimed | None:
        if not platforms:
            return None
        started = time.monotonic()
        async with self._conn() as conn, conn.transaction():
            # Claims queue behind this lock, so the caps' counts and the claim are one step for
            # every replica; SKIP LOCKED passes over a row another transaction holds.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CLAIM_LOCK)
            # The wait for the pool and the lock took time too: a lease from the ``now`` the caller
            # passed could already be over, and another replica would claim the job again.
            now += time.monotonic() - started
            held = await conn.fetchval(
                "SELECT COUNT(*) FROM jobs WHERE lease_expires > $1 AND status IN ($2, $3) AND queued_at IS NOT NULL",
                now,
                JobStatus.QUEUED.value,
                JobStatus.RUNNING.value,
            )
            room = int(held) < caps.global_concurrency  # a job to show takes no slot, so it may still go
            row = await conn.fetchrow(
                f"SELECT j.id, j.attempts FROM jobs AS j WHERE j.platform = ANY($4::text[]) AND ("
                f"({_CLAIMABLE} AND $8 AND (SELECT COUNT(*) FROM jobs AS r WHERE r.lease_expires > $3 "
                "AND r.status IN ($1, $2) AND r.queued_at IS NOT NULL AND r.platform = j.platform "
                "AND r.workspace_id = j.workspace_id "
                "AND r.user_id = j.user_id) < $5) "
                f"OR ({_UNSHOWN})) "
                "ORDER BY j.queued_at, j.id LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
                *_claimable_params(now),
                list(platforms),
                caps.per_user_concurrency,
                *_UNSHOWN_STATUSES,
                room,
            )
            if row is None:
                return None
            job_id, attempts = str(row[0]), int(row[1])
            await conn.execute(
                "UPDATE jobs SET status = CASE WHEN status = $1 THEN $2 ELSE status END, lease_owner = $3, "
                "lease_expires = $4, attempts = $5 WHERE id = $6",
                JobStatus.QUEUED.value,
                JobStatus.RUNNING.value,
                owner,
                now + lease_s,
                attempts + 1,
                job_id,
            )
            # Read on the same connection: waiting for another one in a burst would eat into the lease.
            jobs = await _select_on(conn, "WHERE j.id = $1", job_id)
        return Claimed(jobs[0], attempts + 1) if jobs else None

    async def renew(self, job_id: str, owner: str, lease_s: float, now: float) -> bool:
        started = time.monotonic()
        async with self._lease_conn() as conn:
            now += time.monotonic() - started
            status = await conn.execute(
                "UPDATE jobs SET lease_expires = $1 WHERE id = $2 AND lease_owner = $3 AND lease_expires IS NOT NULL",
                now + lease_s,
                job_id,
                owner,
            )
        return _rows_changed(status) > 0

    async def end_lease(self, job_id: str, owner: str, *, shown: bool = True) -> None:
        async with self._lease_conn() as conn:
            await conn.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_expires = NULL, posted_at = CASE "
                "WHEN $3 AND status IN ($4, $5) AND posted_at IS NULL THEN $6 ELSE posted_at END "
                "WHERE id = $1 AND lease_owner = $2",
                job_id,
                owner,
                shown,
                *_UNSHOWN_STATUSES,
                time.time(),
            )

    async def queue_positions(self, now: float) -> dict[str, int]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                f"SELECT j.id FROM jobs AS j WHERE {_CLAIMABLE} ORDER BY j.queued_at, j.id", *_claimable_params(now)
            )
        return {str(row[0]): place for place, row in enumerate(rows, start=1)}

    async def taken_elsewhere(self, job_ids: Sequence[str], owner: str, now: float) -> set[str]:
        if not job_ids:
            return set()
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT id FROM jobs WHERE id = ANY($1::text[]) AND queued_at IS NOT NULL "
                "AND ((lease_expires > $2 AND lease_owner != $3) OR status NOT IN ($4, $5))",
                list(job_ids),
                now,
                owner,
                JobStatus.QUEUED.value,
                JobStatus.RUNNING.value,
            )
        return {str(row[0]) for row in rows}

    async def expire_unclaimed(self, created_before: float, now: float) -> list[Job]:
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CLAIM_LOCK)
            rows = await conn.fetch(
                f"SELECT j.id, j.attempts FROM jobs AS j WHERE {_CLAIMABLE} AND j.created_at < $4",
                *_claimable_params(now),
                created_before,
            )
            for job_id, attempts in rows:
                await conn.execute(
                    "UPDATE jobs SET status = $1, error = $2, finished_at = $3, lease_owner = NULL, "
                    "lease_expires = NULL, released = CASE WHEN $4 THEN released ELSE 1 END WHERE id = $5",
                    JobStatus.INTERRUPTED.value,
                    INTERRUPTED_WHILE_RUNNING if attempts else INTERRUPTED_WHILE_QUEUED,
                    now,
                    bool(attempts),
                    job_id,
                )
        expired = [await self.get(str(row[0])) for row in rows]
        return [job for job in expired if job is not None]

    async def get(self, job_id: str) -> Job | None:
        jobs = await self._select("WHERE j.id = $1", job_id)
        return jobs[0] if jobs else None

    async def set_message(self, job_id: str, role: str, message_id: str) -> None:
        async with self._conn() as conn:
            status = await conn.execute(
                "INSERT INTO job_messages (job_id, role, platform, message_id) "
                "SELECT id, $1::text, platform, $2::text FROM jobs WHERE id = $3 "
                "ON CONFLICT (job_id, role) DO UPDATE SET message_id = excluded.message_id",
                role,
                message_id,
                job_id,
            )
        if _rows_changed(status) == 0:
            raise JobNotFound(job_id)

    async def job_for_message(self, platform: str, message_id: str) -> Job | None:
        jobs = await self._select(
            "WHERE j.id = (SELECT m.job_id FROM job_messages AS m JOIN jobs AS o ON o.id = m.job_id "
            "WHERE m.platform = $1 AND m.message_id = $2 ORDER BY o.created_at DESC LIMIT 1)",
            platform,
            message_id,
        )
        return jobs[0] if jobs else None

    async def children(self, job_id: str) -> list[Job]:
        return await self._select("WHERE j.parent_id = $1 ORDER BY j.created_at, j.id", job_id)

    async def recent_jobs(self, platform: str, workspace_id: str, limit: int = 20) -> list[Job]:
        return await self._select(
            "WHERE j.platform = $1 AND j.workspace_id = $2 AND j.status != $3 "
            "ORDER BY j.created_at DESC, j.id DESC LIMIT $4",
            platform,
            workspace_id,
            JobStatus.DELETED.value,
            max(0, limit),
        )

    async def count_user_jobs_since(self, platform: str, workspace_id: str, user_id: str, since: float) -> int:
        async with self._conn() as conn:
            count = await conn.fetchval(
                f"SELECT {IMAGES_COUNTED} FROM jobs WHERE platform = $1 AND workspace_id = $2 AND user_id = $3 "
                "AND created_at >= $4 AND released = 0",
                platform,
                workspace_id,
                user_id,
                since,
            )
        return int(count)

    async def cost_since(self, platform: str, workspace_id: str, since: float) -> float:
        async with self._conn() as conn:
            total = await conn.fetchval(
                f"SELECT {CHARGED_USD} WHERE platform = $1 AND workspace_id = $2 AND created_at >= $3",
                platform,
                workspace_id,
                since,
            )
        return float(total)

    async def totals_since(
        self, platform: str, workspace_id: str, since: float, user_id: str | None = None
    ) -> Totals:
        query = (
            f"SELECT {IMAGES_KEPT}, {CHARGED_USD} "
            "WHERE platform = $1 AND workspace_id = $2 AND created_at >= $3"
        )
        parameters: list[str | float] = [platform, workspace_id, since]
        if user_id is not None:
            query += " AND user_id = $4"
            parameters.append(user_id)
        async with self._conn() as conn:
            row = await conn.fetchrow(query, *parameters)
        assert row is not None
        return Totals(int(row[0]), float(row[1]))

    async def last_result_in_channel(self, platform: str, channel_id: str) -> Job | None:
        jobs = await self._select(
            "WHERE j.platform = $1 AND j.channel_id = $2 AND j.status = $3 "
            "ORDER BY j.created_at DESC, j.id DESC LIMIT 1",
            platform,
            channel_id,
            JobStatus.SUCCEEDED.value,
        )
        return jobs[0] if jobs else None

    async def first_delivery(self, key: str, ttl_s: float = 3600) -> bool:
        now = time.time()
        async with self._conn() as conn, conn.transaction():
            await conn.execute("DELETE FROM delivery_keys WHERE expires_at <= $1", now)
            status = await conn.execute(
                "INSERT INTO delivery_keys (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                key,
                now + ttl_s,
            )
        return _rows_changed(status) == 1

    async def referenced_digests(self) -> set[str]:
        async with self._conn() as conn:
            rows = await conn.fetch(
                "SELECT r.digest FROM job_references AS r JOIN jobs AS j ON j.id = r.job_id WHERE j.status != $1 "
                "UNION SELECT sheet_digest FROM jobs WHERE status != $1 AND sheet_digest IS NOT NULL "
                "UNION SELECT jsonb_array_elements_text(result_digests::jsonb) FROM jobs WHERE status != $1 "
                # A refine's picture to edit and its mask live in its options.
                "UNION SELECT options::jsonb #>> '{refine,base}' FROM jobs WHERE status != $1 "
                "UNION SELECT options::jsonb #>> '{refine,mask}' FROM jobs WHERE status != $1",
                JobStatus.DELETED.value,
            )
        return {str(row[0]) for row in rows if row[0] is not None}

    def _conn(self) -> Any:
        """A pooled connection, as an async context manager."""
        if self._pool is None:
            raise RuntimeError("the job store is not open")
        return self._pool.acquire()

    def _lease_conn(self) -> Any:
        """A connection of the leases' own pool (``LEASE_POOL_SIZE``), as an async context manager."""
        if self._lease_pool is None:
            raise RuntimeError("the job store is not open")
        return self._lease_pool.acquire()

    async def _select(self, where: str, *params: object) -> list[Job]:
        async with self._conn() as conn:
            return await _select_on(conn, where, *params)

    async def _migrate(self) -> None:
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATE_LOCK)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            if current > len(MIGRATIONS):
                raise ConfigError(
                    f"The database {describe(self._url)} has schema version {current}, newer than this "
                    f"mergebot understands ({len(MIGRATIONS)}). Upgrade every replica to the same release."
                )
            for version, steps in enumerate(MIGRATIONS[current:], start=current + 1):
                for statement in steps:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)", version, time.time()
                )
                log.info("job store schema migrated to version %d", version)


async def _select_on(conn: Any, where: str, *params: object) -> list[Job]:
    """The jobs matching ``where`` with their references and messages, read on ``conn``."""
    rows = await conn.fetch(f"{SELECT_JOBS} {where}", *params)
    if not rows:
        return []
    ids = [str(row[0]) for row in rows]
    references: dict[str, list[Reference]] = {job_id: [] for job_id in ids}
    messages: dict[str, dict[str, str]] = {job_id: {} for job_id in ids}
    for ref_row in await conn.fetch(
        f"SELECT {', '.join(REFERENCE_COLUMNS)} FROM job_references "
        "WHERE job_id = ANY($1::text[]) ORDER BY job_id, position",
        ids,
    ):
        references[str(ref_row[0])].append(reference_from_row(tuple(ref_row)))
    for msg_row in await conn.fetch(
        "SELECT job_id, role, message_id FROM job_messages WHERE job_id = ANY($1::text[]) ORDER BY recorded",
        ids,
    ):
        messages[str(msg_row[0])][str(msg_row[1])] = str(msg_row[2])
    return [job_from_row(tuple(row), references[str(row[0])], messages[str(row[0])]) for row in rows]


async def _write_job(conn: Any, job: Job) -> None:
    """Upsert the job and its references, merging its message ids (inside a transaction)."""
    await conn.execute(_UPSERT_JOB, *job_row(job))
    await conn.execute("DELETE FROM job_references WHERE job_id = $1", job.id)
    await conn.executemany(_INSERT_REFERENCE, [reference_row(job.id, i, r) for i, r in enumerate(job.references)])
    await conn.executemany(
        "INSERT INTO job_messages (job_id, role, platform, message_id) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (job_id, role) DO UPDATE SET message_id = excluded.message_id",
        [storable((job.id, role, job.origin.platform, mid)) for role, mid in job.messages.items()],
    )


def _open_from_settings(settings: Settings) -> PostgresJobStore:
    if settings.database_url is None:
        raise ConfigError("MERGEBOT_STORE=postgres needs MERGEBOT_DATABASE_URL=postgresql://user@host/database")
    return PostgresJobStore(settings.database_url.reveal())


register_driver("postgres", _open_from_settings)
