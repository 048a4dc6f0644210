"""The ``safety_identifier`` OpenAI gets for each person: a salted hash, never the raw id.

OpenAI uses it to tell one abusive end user from the organisation behind the key, so one person's
misuse does not get the whole key blocked. It is an HMAC-SHA256 of platform, workspace and user id
under a salt from ``MERGEBOT_SAFETY_SALT`` or, when that is unset, one generated once and kept in
``<data dir>/safety-salt`` (so identifiers stay stable across restarts and cannot be recomputed
from ids alone).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from .model import Origin
from .settings import Settings

SALT_FILE = "safety-salt"


def load_salt(settings: Settings) -> bytes:
    """The configured salt, else the one kept in the data directory (made on first use)."""
    if settings.safety_salt is not None:
        return settings.safety_salt.reveal().encode()
    path = settings.data_dir / SALT_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        return _create_salt(path)


def _create_salt(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32).encode()
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(salt)
    try:
        os.link(draft, path)  # atomic: a reader never sees a half-written salt
    except FileExistsError:  # another process made it first: use theirs
        salt = path.read_bytes().strip()
    finally:
        draft.unlink()
    return salt


def safety_identifier(origin: Origin, salt: bytes) -> str:
    """64 hex digits naming one person in one workspace on one platform (the API's maximum length)."""
    who = "\x00".join((origin.platform, origin.workspace_id, origin.user_id)).encode()
    return hmac.new(salt, who, hashlib.sha256).hexdigest()
