"""``mergebot migrate-store``: copy a single-process install (SQLite and blobs on disk) to the shared stores.

The destination is what the settings choose (``MERGEBOT_DATABASE_URL``,
``MERGEBOT_BLOB_URL``); the source is the SQLite database and blob folder of a
data directory. Copying is idempotent (jobs are upserted by id, blobs are
content-addressed), so an interrupted copy is finished by running it again.
Stop the bot before copying: jobs still running would be copied half done.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .blobs import BlobMissing, BlobStore, open_blobs
from .errors import ConfigError
from .settings import Settings
from .sqlite_store import SqliteJobStore
from .store import JobStore, open_store

log = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True)
class Copied:
    jobs: int
    blobs: int
    blob_bytes: int
    missing_blobs: int


async def migrate_store(settings: Settings, source_dir: Path) -> Copied:
    """Copy every job and blob under ``source_dir`` into the stores ``settings`` choose."""
    database = source_dir / Settings().db_path.name
    if not database.is_file():
        raise ConfigError(f"There is no mergebot database at {database}: pass the old MERGEBOT_DATA_DIR with --from.")
    if settings.store_driver == "sqlite" and settings.object_storage is None:
        raise ConfigError(
            "Nothing to copy to: set MERGEBOT_DATABASE_URL (PostgreSQL) and/or MERGEBOT_BLOB_URL (object storage)."
        )
    source = SqliteJobStore(database)
    await source.open()
    destination = await open_store(settings) if settings.store_driver != "sqlite" else None
    try:
        jobs = await _copy_jobs(source, destination) if destination is not None else 0
        blobs, blob_bytes, missing = await _copy_blobs(source_dir, settings)
    finally:
        await source.close()
        if destination is not None:
            await destination.close()
    return Copied(jobs=jobs, blobs=blobs, blob_bytes=blob_bytes, missing_blobs=missing)


async def _copy_jobs(source: SqliteJobStore, destination: JobStore) -> int:
    copied = 0
    after: tuple[float, str] | None = None
    while batch := await source.jobs_in_order(after, BATCH):
        for job in batch:
            await destination.save(job)
        copied += len(batch)
        after = (batch[-1].created_at, batch[-1].id)
        log.info("copied %d jobs", copied)
    return copied


async def _copy_blobs(source_dir: Path, settings: Settings) -> tuple[int, int, int]:
    if settings.object_storage is None:
        return 0, 0, 0
    local = BlobStore(source_dir / Settings().blob_dir.name, cap_bytes=settings.limits.blob_cap_bytes)
    remote = open_blobs(settings)
    copied = size = missing = 0
    for digest in await local.digests():
        try:
            data = await local.get(digest)
        except BlobMissing:
            missing += 1  # damaged on disk: get removed it
            continue
        await remote.put(data)
        copied += 1
        size += len(data)
    return copied, size, missing
