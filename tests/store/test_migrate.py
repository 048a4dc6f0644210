"""`mergebot migrate-store`: a SQLite install's jobs and images, copied to PostgreSQL and S3."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path

from bot.blobs import BlobStore, open_blobs
from bot.model import JobStatus
from bot.postgres_store import PostgresJobStore
from bot.settings import Settings
from bot.sqlite_store import SqliteJobStore

from ..core.test_cli import mergebot
from ..servers import S3Server
from .jobs import rich_job, simple_job


async def _old_install(data_dir: Path) -> tuple[list[str], list[bytes]]:
    store = SqliteJobStore(Settings(data_dir=data_dir).db_path)
    await store.open()
    blobs = BlobStore(Settings(data_dir=data_dir).blob_dir, cap_bytes=10**9)
    images = [secrets.token_bytes(3000 + i) for i in range(7)]
    digests = [await blobs.put(image) for image in images]
    ids = []
    for i in range(1203):  # more than one batch
        job = simple_job(f"old{i:05}", created_at=1_000.0 + i // 3, status=JobStatus.SUCCEEDED)
        await store.save(replace(job, result_digests=(digests[i % 7],)))
        ids.append(job.id)
    await store.save(rich_job())
    await store.set_message("old00000", "result", "m-1")
    await store.close()
    return [*ids, rich_job().id], images


async def test_migrate_store_copies_every_job_and_image(tmp_path: Path, postgres_url: str, s3_server: S3Server) -> None:
    old = tmp_path / "old-data"
    ids, images = await _old_install(old)
    env = {"MERGEBOT_DATABASE_URL": postgres_url, **s3_server.env(prefix=f"mig-{secrets.token_hex(4)}")}

    code, out, err = await mergebot("migrate-store", "--from", str(old), env=env, cwd=tmp_path)
    assert code == 0, err
    assert out.strip() == f"copied {len(ids)} jobs and 7 images ({sum(map(len, images)) / 1e6:.1f} MB) from {old}"

    source = SqliteJobStore(Settings(data_dir=old).db_path)
    destination = PostgresJobStore(postgres_url)
    await source.open()
    await destination.open()
    try:
        for job_id in (ids[0], ids[600], ids[-1]):
            assert await destination.get(job_id) == await source.get(job_id)
        assert (await destination.job_for_message("discord", "m-1")) == await source.get("old00000")
        assert await destination.referenced_digests() == await source.referenced_digests()
    finally:
        await source.close()
        await destination.close()
    remote = open_blobs(Settings.from_env(env))
    assert sorted([await remote.get(d) for d in await BlobStore(old / "blobs", 10**9).digests()]) == sorted(images)

    again, out, err = await mergebot("migrate-store", "--from", str(old), env=env, cwd=tmp_path)
    assert again == 0, err  # idempotent: finishing an interrupted copy is running it again


async def test_migrate_store_refusals_are_one_line(tmp_path: Path) -> None:
    code, _, err = await mergebot("migrate-store", "--from", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and "no mergebot database" in err
    await _old_install(tmp_path / "old")
    code, _, err = await mergebot("migrate-store", "--from", str(tmp_path / "old"), cwd=tmp_path)
    assert code == 2
    assert err.count("\n") == 1 and "MERGEBOT_DATABASE_URL" in err
