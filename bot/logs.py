"""Logging for the entry points: one format that masks secrets, and libraries kept quiet.

The mask runs on the finished text of each record (message, traceback and stack), so a secret
quoted by an exception, a library's debug line or a traceback's locals never reaches the log.
Each record's message is kept on one line: a file name decoded from a link (``%0A``) cannot forge
a log line. Third-party loggers are held at ``MERGEBOT_LIBRARY_LOG_LEVEL`` (``warning``): at debug
they print interaction tokens, signed links and Socket Mode tickets, which the mask then hides.
"""

from __future__ import annotations

import logging
import sys

from .redact import Redactor, one_line
from .settings import Secret, Settings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LIBRARY_LOGGERS = (
    "discord",
    "discord.http",
    "discord.gateway",
    "discord.client",
    "slack_bolt",
    "slack_sdk",
    "openai",
    "openai._base_client",
    "httpx",
    "httpcore",
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.server",
    "asyncio",
)


class MaskingFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose output has every secret masked and one line per message."""

    def __init__(self, redactor: Redactor, fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        self._redactor = redactor

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.exc_text:  # cached by the base class: other handlers must not see it unmasked
            record.exc_text = self._redactor.mask(record.exc_text)
        return self._redactor.mask(text)


def secret_values(settings: Settings) -> list[str]:
    return [value.reveal() for value in vars(settings).values() if isinstance(value, Secret)]


def redactor_for(settings: Settings) -> Redactor:
    """The masker for every secret configured in ``settings``."""
    return Redactor(secret_values(settings))


def configure(settings: Settings) -> None:
    """Configure the root logger once, at the entry point."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(MaskingFormatter(redactor_for(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    library_level = max(logging.getLevelName(settings.library_log_level), root.level)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library_level)
