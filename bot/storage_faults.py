"""Writes the data directory refuses: a full disk, a read-only mount, an I/O error.

``as_storage_failure`` turns such an error (from the blob store's files or from SQLite)
into a ``StorageFailed`` whose message a person can read; anything else is not ours to
explain and stays as it is. ``StorageAlarm`` logs the condition once, not once per merge,
and says when writes work again. ``unusable_reason`` words the same errors for start-up.
"""

from __future__ import annotations

import errno
import logging
import sqlite3

from .errors import StorageFailed

log = logging.getLogger(__name__)

FULL = "the disk is full"
READ_ONLY = "it is read-only or not writable"
IO_ERROR = "the disk reported an I/O error"
STORAGE_FAILED = (
    "I could not save this merge: the bot's storage refused the write ({reason}). "
    "The bot's operator can see it in the log; try again later."
)
_ERRNO_REASONS = {
    errno.ENOSPC: FULL,
    errno.EDQUOT: FULL,
    errno.EFBIG: FULL,
    errno.EROFS: READ_ONLY,
    errno.EACCES: READ_ONLY,
    errno.EPERM: READ_ONLY,
    errno.EIO: IO_ERROR,
}
_SQLITE_REASONS = (("disk is full", FULL), ("readonly", READ_ONLY), ("disk i/o error", IO_ERROR))


def storage_reason(exc: BaseException) -> str | None:
    """Why the data directory refused a write, or None when ``exc`` is not such a refusal."""
    if isinstance(exc, OSError) and exc.errno in _ERRNO_REASONS:
        return _ERRNO_REASONS[exc.errno]
    if isinstance(exc, sqlite3.DatabaseError):
        text = str(exc).lower()
        return next((reason for marker, reason in _SQLITE_REASONS if marker in text), None)
    return None


def unusable_reason(exc: BaseException) -> str:
    """Start-up wording for any error opening the data directory or the store (one line, no secrets)."""
    reason = storage_reason(exc)
    if reason is not None:
        return reason
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    if isinstance(exc, sqlite3.DatabaseError):
        return f"SQLite said {' '.join(str(exc).split())[:120]!r}"
    return type(exc).__name__


class StorageAlarm:
    """Logs a storage failure once until a write works again."""

    def __init__(self) -> None:
        self._raised: str | None = None

    def failed(self, exc: BaseException, what: str) -> StorageFailed | None:
        """The person's error for ``exc`` (logged once), or None when ``exc`` is not a storage failure."""
        reason = storage_reason(exc)
        if reason is None:
            return None
        if self._raised != reason:
            self._raised = reason
            log.error("storage refused a write (%s) while %s; merges fail until it works again", reason, what)
        return StorageFailed(STORAGE_FAILED.format(reason=reason))

    def worked(self) -> None:
        """A merge was stored: if writes had failed, say they work again."""
        if self._raised is not None:
            log.warning("storage accepts writes again (it had failed: %s)", self._raised)
            self._raised = None
