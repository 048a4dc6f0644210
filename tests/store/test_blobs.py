"""The content-addressed blob store: naming, atomic writes, damage, digest validation, pruning."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path

import pytest

from bot.blobs import BlobMissing, BlobStore, InvalidDigest


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _age(store: BlobStore, digest: str, seconds_ago: float) -> None:
    when = time.time() - seconds_ago
    os.utime(store.path_for(digest), (when, when))


async def test_put_returns_the_sha256_and_get_gives_the_bytes_back(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", cap_bytes=10**6)
    data = b"\x89PNG pretend image bytes"
    digest = await store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert await store.get(digest) == data
    assert await store.has(digest)
    assert store.path_for(digest) == tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    assert store.path_for(digest).read_bytes() == data
    assert store.path_for(digest).stat().st_mode & 0o077 == 0  # people's images: readable by the bot only


async def test_putting_the_same_bytes_twice_keeps_one_file(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)
    digests = await asyncio.gather(*(store.put(b"same bytes") for _ in range(10)))
    assert len(set(digests)) == 1
    assert _files(tmp_path) == [store.path_for(digests[0])]


async def test_missing_blob_raises_blob_missing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not await store.has(absent)
    with pytest.raises(BlobMissing) as caught:
        await store.get(absent)
    assert isinstance(caught.value, KeyError)


@pytest.mark.parametrize(
    "crafted",
    [
        "../../../../etc/passwd",
        "..",
        "",
        "a" * 63,
        "a" * 65,
        "A" * 64,
        "g" * 64,
        "ab/" + "c" * 61,
        "/" + "a" * 63,
        "a" * 63 + "\n",
        "a" * 63 + "\x00",
    ],
)
async def test_crafted_digests_are_refused(tmp_path: Path, crafted: str) -> None:
    store = BlobStore(tmp_path / "blobs", cap_bytes=10**6)
    with pytest.raises(InvalidDigest):
        store.path_for(crafted)
    with pytest.raises(InvalidDigest):
        await store.get(crafted)
    with pytest.raises(InvalidDigest):
        await store.has(crafted)
    assert not (tmp_path / "blobs").exists()


async def test_a_failed_write_leaves_neither_blob_nor_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        await store.put(b"doomed")
    monkeypatch.undo()
    digest = hashlib.sha256(b"doomed").hexdigest()
    assert not await store.has(digest)
    assert _files(tmp_path) == []


async def test_a_half_written_temporary_file_is_never_a_blob(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)
    data = b"complete"
    digest = hashlib.sha256(data).hexdigest()
    folder = store.path_for(digest).parent
    folder.mkdir(parents=True)
    (folder / ".tmp-crashed").write_bytes(data[:3])
    assert not await store.has(digest)
    assert await store.put(data) == digest
    assert await store.get(digest) == data


async def test_a_damaged_blob_is_reported_missing_and_removed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)
    digest = await store.put(b"original bytes")
    store.path_for(digest).write_bytes(b"flipped bits")
    with pytest.raises(BlobMissing):
        await store.get(digest)
    assert not await store.has(digest)
    assert await store.put(b"original bytes") == digest  # and it can be stored again
    assert await store.get(digest) == b"original bytes"


async def test_prune_evicts_least_recently_used_until_under_cap(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=2_500, min_age_s=0)
    oldest = await store.put(b"a" * 1_000)
    middle = await store.put(b"b" * 1_000)
    newest = await store.put(b"c" * 1_000)
    _age(store, oldest, 300)
    _age(store, middle, 200)
    _age(store, newest, 100)
    assert await store.size() == 3_000
    freed = await store.prune(keep=set())
    assert freed == 1_000
    assert not await store.has(oldest)
    assert await store.has(middle) and await store.has(newest)
    assert await store.prune(keep=set()) == 0  # already under the cap


async def test_prune_never_evicts_kept_blobs(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=1_500, min_age_s=0)
    kept = await store.put(b"k" * 1_000)
    other = await store.put(b"o" * 1_000)
    last = await store.put(b"l" * 1_000)
    _age(store, kept, 500)
    _age(store, other, 400)
    _age(store, last, 300)
    freed = await store.prune(keep={kept})
    assert freed == 2_000
    assert await store.has(kept)
    assert not await store.has(other) and not await store.has(last)
    # everything left is kept: over the cap, nothing more to evict
    assert await store.prune(keep={kept, "not-even-a-digest"}) == 0


async def test_reading_a_blob_makes_it_recently_used(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=1_500, min_age_s=0)
    first = await store.put(b"1" * 1_000)
    second = await store.put(b"2" * 1_000)
    _age(store, first, 200)
    _age(store, second, 100)
    await store.get(first)
    await store.prune(keep=())
    assert await store.has(first)
    assert not await store.has(second)


async def test_recent_blobs_are_protected_from_eviction(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=1_000, min_age_s=60)
    fresh = await store.put(b"f" * 1_000)
    old = await store.put(b"o" * 1_000)
    _age(store, old, 3_600)
    assert await store.prune(keep=()) == 1_000
    assert await store.has(fresh)
    assert not await store.has(old)


async def test_prune_clears_stale_temporary_files_only(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, cap_bytes=10**6)
    digest = await store.put(b"x")
    folder = store.path_for(digest).parent
    stale, fresh = folder / ".tmp-stale", folder / ".tmp-fresh"
    stale.write_bytes(b"left by a crash")
    fresh.write_bytes(b"being written right now")
    long_ago = time.time() - 2 * 3_600
    os.utime(stale, (long_ago, long_ago))
    await store.size()
    assert stale.exists()  # measuring changes nothing
    assert await store.prune(keep=()) == 0
    assert not stale.exists()
    assert fresh.exists()
    assert await store.has(digest)


async def test_empty_store_prunes_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "not-created-yet", cap_bytes=0)
    assert await store.prune(keep=()) == 0
    assert await store.size() == 0


async def test_a_blob_used_again_while_prune_runs_is_not_evicted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path, cap_bytes=0, min_age_s=10)
    wanted = await store.put(b"w" * 100)
    other = await store.put(b"o" * 100)
    _age(store, wanted, 1_000)
    _age(store, other, 1_000)
    scan = store._entries

    def scan_then_reuse(*, clean: bool = False) -> list:  # type: ignore[type-arg]
        entries = scan(clean=clean)
        store._put(b"w" * 100)  # a merge puts the same reference between the scan and the eviction
        return entries

    monkeypatch.setattr(store, "_entries", scan_then_reuse)
    assert await store.prune(keep=()) == 100
    assert await store.has(wanted)
    assert not await store.has(other)
