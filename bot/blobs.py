"""Content-addressed blobs: references, reference sheets and results.

``Blobs`` is what the pipeline needs; ``open_blobs`` picks the implementation
from the settings: ``BlobStore`` here, on local disk (the default), or
``bot.s3_blobs.S3BlobStore`` in S3-compatible object storage, for several
replicas. Both keep their bytes under a size cap with the same ``prune``.

On disk:

A blob's name is the sha256 of its bytes, stored under two fan-out directories
(``ab/cd/abcd…``) so no directory grows huge. Writes go to a temporary file in
the same directory and are moved into place with ``os.replace``, so a reader
never sees half a blob, even after a crash. A blob's modification time records
its last use; ``prune`` evicts the least recently used ones not in ``keep``
until the store is under its size cap. File I/O runs off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .settings import Settings

log = logging.getLogger(__name__)

_DIGEST = re.compile(r"[0-9a-f]{64}")
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 3600.0  # a temporary file this old was left by a crash


class BlobMissing(KeyError):
    """No blob is stored under this digest."""


class InvalidDigest(ValueError):
    """The text is not a sha256 hex digest (64 lowercase hex characters)."""


@runtime_checkable
class Blobs(Protocol):
    """Blobs named by the sha256 of their bytes, kept under a size cap."""

    async def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 hex digest; storing the same bytes twice is cheap."""
        ...

    async def get(self, digest: str) -> bytes:
        """The bytes of blob ``digest``; raises ``BlobMissing`` when it is not stored (or was damaged)."""
        ...

    async def has(self, digest: str) -> bool:
        """Whether blob ``digest`` is stored."""
        ...

    async def size(self) -> int:
        """Bytes used by all stored blobs."""
        ...

    async def prune(self, keep: Collection[str]) -> int:
        """Evict the least recently used blobs not in ``keep`` until under the cap; the bytes freed."""
        ...


def blob_digest(data: bytes) -> str:
    """The name every blob store keeps ``data`` under: its sha256 hex digest."""
    return hashlib.sha256(data).hexdigest()


def blob_name(digest: str) -> str:
    """Where blob ``digest`` lives below the root: two fan-out levels, so no folder grows huge.

    Raises ``InvalidDigest`` for anything but a sha256 hex digest.
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise InvalidDigest(f"not a blob digest: {digest!r:.80}")
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


def open_blobs(settings: Settings) -> Blobs:
    """The blob store the settings choose: object storage when ``MERGEBOT_BLOB_URL`` is set, else local disk."""
    if settings.object_storage is not None:
        from .s3_blobs import S3BlobStore

        return S3BlobStore(settings.object_storage, settings.limits.blob_cap_bytes)
    return BlobStore(settings.blob_dir, settings.limits.blob_cap_bytes)


@dataclass(frozen=True)
class _Entry:
    digest: str
    path: Path
    size: int
    used_at: float


class BlobStore:
    """Blobs named by their sha256, under ``root``, kept under ``cap_bytes`` by ``prune``.

    ``min_age_s`` protects blobs written or read that recently from eviction: a
    merge in flight has put its references before any stored job names them.
    ``fsync`` makes each new blob durable before it becomes visible.
    """

    def __init__(self, root: Path, cap_bytes: int, *, min_age_s: float = 300.0, fsync: bool = True) -> None:
        if cap_bytes < 0:
            raise ValueError("cap_bytes must not be negative")
        self.root = Path(root)
        self.cap_bytes = cap_bytes
        self.min_age_s = min_age_s
        self.fsync = fsync
        # Serialises "is it there / make it used" in put with "is it old / delete it" in prune.
        self._lock = threading.Lock()

    def path_for(self, digest: str) -> Path:
        """Where the blob ``digest`` lives. Raises ``InvalidDigest`` for anything but a sha256 hex digest."""
        return self.root / blob_name(digest)

    async def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256 hex digest. Storing the same bytes twice is cheap."""
        return await asyncio.to_thread(self._put, bytes(data))

    async def get(self, digest: str) -> bytes:
        """The bytes of blob ``digest``. Raises ``BlobMissing`` when it is not stored (or was damaged)."""
        path = self.path_for(digest)
        return await asyncio.to_thread(self._get, digest, path)

    async def has(self, digest: str) -> bool:
        """Whether blob ``digest`` is stored."""
        path = self.path_for(digest)
        return await asyncio.to_thread(path.is_file)

    async def size(self) -> int:
        """Bytes used by all stored blobs."""
        return await asyncio.to_thread(lambda: sum(entry.size for entry in self._entries()))

    async def digests(self) -> list[str]:
        """The digest of every stored blob (for copying a store)."""
        return await asyncio.to_thread(lambda: [entry.digest for entry in self._entries()])

    async def prune(self, keep: Collection[str]) -> int:
        """Evict the least recently used blobs not in ``keep`` until under the cap; the bytes freed.

        Temporary files a crash left behind are removed on the way.
        """
        return await asyncio.to_thread(self._prune, frozenset(keep))

    def _put(self, data: bytes) -> str:
        digest = blob_digest(data)
        path = self.path_for(digest)
        with self._lock:
            if _touch(path):
                return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as tmp:
                tmp.write(data)
                tmp.flush()
                if self.fsync:
                    os.fsync(tmp.fileno())
            with self._lock:
                os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        log.debug("stored blob %s (%d bytes)", digest[:12], len(data))
        return digest

    def _get(self, digest: str, path: Path) -> bytes:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobMissing(digest) from None
        if blob_digest(data) != digest:
            log.warning("blob %s is damaged on disk; removing it", digest[:12])
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise BlobMissing(digest)
        _touch(path)
        return data

    def _entries(self, *, clean: bool = False) -> list[_Entry]:
        entries: list[_Entry] = []
        if not self.root.is_dir():
            return entries
        for first in self.root.iterdir():
            if not first.is_dir() or len(first.name) != 2:
                continue
            for second in first.iterdir():
                if not second.is_dir():
                    continue
                for path in second.iterdir():
                    entry = self._entry(path, clean=clean)
                    if entry is not None:
                        entries.append(entry)
        return entries

    def _entry(self, path: Path, *, clean: bool) -> _Entry | None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        if path.name.startswith(_TMP_PREFIX):
            if clean and time.time() - stat.st_mtime > _STALE_TMP_S:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                log.info("removed a temporary blob file left by a crash: %s", path.name)
            return None
        if _DIGEST.fullmatch(path.name) is None:
            return None
        return _Entry(path.name, path, stat.st_size, stat.st_mtime)

    def _prune(self, keep: frozenset[str]) -> int:
        entries = self._entries(clean=True)
        total = sum(entry.size for entry in entries)
        if total <= self.cap_bytes:
            return 0
        cutoff = time.time() - self.min_age_s
        evictable = sorted(
            (e for e in entries if e.digest not in keep and e.used_at < cutoff),
            key=lambda e: e.used_at,
        )
        freed = 0
        for entry in evictable:
            if total - freed <= self.cap_bytes:
                break
            with self._lock:
                try:
                    if entry.path.stat().st_mtime >= cutoff:
                        continue  # used again since the scan
                    entry.path.unlink()
                except FileNotFoundError:
                    continue
            freed += entry.size
        if total - freed > self.cap_bytes:
            log.warning(
                "blob store is %d bytes over its %d byte cap after pruning: the rest is in use or recent",
                total - freed - self.cap_bytes,
                self.cap_bytes,
            )
        log.debug("pruned %d bytes of blobs", freed)
        return freed


def _touch(path: Path) -> bool:
    """Mark ``path`` as just used; False when it does not exist."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True
