"""Logging for the entry points: one format, and a filter that masks every secret value."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from .settings import Secret, Settings

MASK = "***"


class RedactSecrets(logging.Filter):
    """Replaces any configured secret in a record's message with ``***``.

    A last line of defence: code never logs secrets on purpose, but a library
    might echo a header or a URL.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if len(s) >= 8)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            for secret in self._secrets:
                message = message.replace(secret, MASK)
            record.msg, record.args = message, None
        if record.exc_text:
            for secret in self._secrets:
                record.exc_text = record.exc_text.replace(secret, MASK)
        return True


def secret_values(settings: Settings) -> list[str]:
    return [value.reveal() for value in vars(settings).values() if isinstance(value, Secret)]


def configure(settings: Settings) -> None:
    """Configure the root logger once, at the entry point."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secret_values(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for noisy in ("discord.gateway", "discord.client", "httpx", "httpx2", "openai._base_client"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
