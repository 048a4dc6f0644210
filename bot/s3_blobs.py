"""Content-addressed blobs in S3-compatible object storage (AWS S3, MinIO, R2…), through obstore.

Chosen by ``MERGEBOT_BLOB_URL=s3://bucket/prefix``; endpoint, region and keys
come from the usual ``AWS_*`` variables. Object names are the same fan-out as on
disk (``ab/cd/abcd…``) below the prefix. An object store has no access time, so
an object's last write stands for its last use: ``put`` rewrites a blob that is
older than half of ``min_age_s``, so a merge in flight always holds its
references young, and ``prune`` evicts by last write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

import obstore
from obstore.store import S3Store

from .blobs import BlobMissing, InvalidDigest, blob_digest, blob_name

if TYPE_CHECKING:
    from .settings import ObjectStorage

log = logging.getLogger(__name__)

_DELETE_BATCH = 1000  # S3's DeleteObjects takes at most 1,000 keys


def _store(location: ObjectStorage) -> S3Store:
    config: dict[str, Any] = {}
    if location.endpoint:
        config["endpoint"] = location.endpoint
    if location.region:
        config["region"] = location.region
    if location.access_key_id:
        config["access_key_id"] = location.access_key_id
    if location.secret_access_key is not None:
        config["secret_access_key"] = location.secret_access_key.reveal()
    plain_http = bool(location.endpoint and location.endpoint.startswith("http://"))
    return S3Store(
        location.bucket,
        prefix=location.prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options={"allow_http": plain_http, "timeout": "60s", "connect_timeout": "10s"},
    )


class S3BlobStore:
    """``Blobs`` in one bucket and prefix, kept under ``cap_bytes`` by ``prune``."""

    def __init__(self, location: ObjectStorage, cap_bytes: int, *, min_age_s: float = 300.0) -> None:
        if cap_bytes < 0:
            raise ValueError("cap_bytes must not be negative")
        self.location = location
        self.cap_bytes = cap_bytes
        self.min_age_s = min_age_s
        self._store = _store(location)

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.location.bucket}/{self.location.prefix})"

    async def put(self, data: bytes) -> str:
        digest = blob_digest(data)
        name = blob_name(digest)
        written = await self._last_write(name)
        if written is not None and time.time() - written < self.min_age_s / 2:
            return digest
        await obstore.put_async(self._store, name, bytes(data))
        log.debug("stored blob %s (%d bytes)", digest[:12], len(data))
        return digest

    async def get(self, digest: str) -> bytes:
        name = blob_name(digest)
        try:
            result = await obstore.get_async(self._store, name)
            data = bytes(await result.bytes_async())
        except FileNotFoundError:
            raise BlobMissing(digest) from None
        if blob_digest(data) != digest:
            log.warning("blob %s is damaged in object storage; removing it", digest[:12])
            await obstore.delete_async(self._store, name)
            raise BlobMissing(digest)
        return data

    async def has(self, digest: str) -> bool:
        return await self._last_write(blob_name(digest)) is not None

    async def size(self) -> int:
        return sum(size for _, size, _ in await self._entries())

    async def prune(self, keep: Collection[str]) -> int:
        entries = await self._entries()
        total = sum(size for _, size, _ in entries)
        if total <= self.cap_bytes:
            return 0
        cutoff = time.time() - self.min_age_s
        kept = frozenset(keep)
        evictable = sorted(
            (entry for entry in entries if entry[0].rsplit("/", 1)[-1] not in kept and entry[2] < cutoff),
            key=lambda entry: entry[2],
        )
        doomed: list[str] = []
        freed = 0
        for name, size, _ in evictable:
            if total - freed <= self.cap_bytes:
                break
            doomed.append(name)
            freed += size
        for start in range(0, len(doomed), _DELETE_BATCH):
            await obstore.delete_async(self._store, doomed[start : start + _DELETE_BATCH])
        if total - freed > self.cap_bytes:
            log.warning(
                "object storage is %d bytes over its %d byte cap after pruning: the rest is in use or recent",
                total - freed - self.cap_bytes,
                self.cap_bytes,
            )
        return freed

    async def _last_write(self, name: str) -> float | None:
        try:
            meta = await obstore.head_async(self._store, name)
        except FileNotFoundError:
            return None
        return _epoch(meta["last_modified"])

    async def _entries(self) -> list[tuple[str, int, float]]:
        """(name, size, last write) of every blob below the prefix."""
        entries: list[tuple[str, int, float]] = []
        async for chunk in obstore.list(self._store, chunk_size=1000):
            for meta in chunk:
                name = str(meta["path"])
                if _is_blob(name):
                    entries.append((name, int(meta["size"]), _epoch(meta["last_modified"])))
        return entries


def _is_blob(name: str) -> bool:
    try:
        return blob_name(name.rsplit("/", 1)[-1]) == name
    except InvalidDigest:
        return False


def _epoch(when: datetime) -> float:
    return when.timestamp()
