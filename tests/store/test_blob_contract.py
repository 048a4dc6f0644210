"""The blob contract: local disk and S3-compatible object storage (a real S3 server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from pathlib import Path

import obstore
import pytest

from bot.blobs import BlobMissing, Blobs, BlobStore, InvalidDigest, blob_name, open_blobs
from bot.s3_blobs import S3BlobStore
from bot.settings import Settings

from ..servers import S3Server

BLOB_KINDS = ("local", "s3")


@pytest.fixture(params=BLOB_KINDS)
def blob_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_blobs(blob_kind: str, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Blob stores of this kind over one fresh location (a folder, or a new prefix in the bucket)."""
    if blob_kind == "local":
        env = {"MERGEBOT_DATA_DIR": str(tmp_path)}
    else:
        server: S3Server = request.getfixturevalue("s3_server")
        env = server.env(prefix=f"run-{secrets.token_hex(4)}/blobs")

    def make(cap_bytes: int = 10**9, min_age_s: float = 300.0) -> Blobs:
        settings = Settings.from_env({**env, "MERGEBOT_BLOB_CAP_BYTES": str(max(cap_bytes, 1024 * 1024))})
        store = open_blobs(settings)
        assert isinstance(store, BlobStore if blob_kind == "local" else S3BlobStore)
        store.cap_bytes = cap_bytes  # type: ignore[attr-defined]  # below the settings' floor, for small tests
        store.min_age_s = min_age_s  # type: ignore[attr-defined]
        return store

    return make


async def test_put_get_has(make_blobs) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs()
    assert isinstance(blobs, Blobs)
    data = b"\x89PNG pretend image bytes"
    digest = await blobs.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await blobs.get(digest) == data
    assert await blobs.has(digest)
    assert await blobs.size() == len(data)
    assert await blobs.put(data) == digest
    assert await blobs.size() == len(data)


async def test_missing_and_invalid_digests(make_blobs) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs()
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not await blobs.has(absent)
    with pytest.raises(BlobMissing):
        await blobs.get(absent)
    for crafted in ("../../etc/passwd", "", "A" * 64, "a" * 63):
        with pytest.raises(InvalidDigest):
            await blobs.get(crafted)


async def test_concurrent_puts_of_many_blobs(make_blobs) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs()
    payloads = [secrets.token_bytes(2000 + i) for i in range(20)]
    digests = await asyncio.gather(*(blobs.put(p) for p in payloads))
    assert [await blobs.get(d) for d in digests] == payloads
    assert await blobs.size() == sum(map(len, payloads))


async def test_prune_evicts_the_oldest_unkept_until_under_the_cap(make_blobs) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs(cap_bytes=2500, min_age_s=0.0)
    first = await blobs.put(b"1" * 1000)
    await asyncio.sleep(1.1)  # object stores keep last-modified to the second
    kept = await blobs.put(b"2" * 1000)
    await asyncio.sleep(1.1)
    await blobs.put(b"3" * 1000)
    await asyncio.sleep(1.1)
    newest = await blobs.put(b"4" * 1000)
    freed = await blobs.prune(keep={kept})
    assert freed == 2000
    assert not await blobs.has(first)
    assert await blobs.has(kept) and await blobs.has(newest)
    assert await blobs.size() == 2000
    assert await blobs.prune(keep={kept}) == 0


async def test_a_blob_put_again_is_young_again(make_blobs) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs(cap_bytes=1500, min_age_s=1.0)
    again = await blobs.put(b"a" * 1000)
    other = await blobs.put(b"b" * 1000)
    await asyncio.sleep(1.3)
    await blobs.put(b"a" * 1000)  # a merge in flight uses it again
    await blobs.prune(keep=())
    assert await blobs.has(again)
    assert not await blobs.has(other)


async def test_a_damaged_blob_is_missing_and_removed(make_blobs, blob_kind: str) -> None:  # type: ignore[no-untyped-def]
    blobs = make_blobs()
    digest = await blobs.put(b"original bytes")
    if isinstance(blobs, BlobStore):
        blobs.path_for(digest).write_bytes(b"bit rot")
    else:
        assert isinstance(blobs, S3BlobStore)
        await obstore.put_async(blobs._store, blob_name(digest), b"bit rot")
    with pytest.raises(BlobMissing):
        await blobs.get(digest)
    assert not await blobs.has(digest)


def test_blob_url_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "MERGEBOT_BLOB_URL": "s3://team-bucket/mergebot/blobs",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
            "AWS_REGION": "auto",
            "AWS_ACCESS_KEY_ID": "test-key-id",
            "AWS_SECRET_ACCESS_KEY": "test-secret-value",
        }
    )
    location = settings.object_storage
    assert location is not None
    assert (location.bucket, location.prefix, location.endpoint) == ("team-bucket", "mergebot/blobs", "http://127.0.0.1:9000")
    assert "test-secret-value" not in repr(settings)
    assert "test-secret-value" not in repr(open_blobs(settings))
    assert Settings.from_env({}).object_storage is None
    from bot.errors import ConfigError

    with pytest.raises(ConfigError, match="s3://bucket/prefix"):
        Settings.from_env({"MERGEBOT_BLOB_URL": "gs://elsewhere"})
