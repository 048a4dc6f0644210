"""The log masks every secret, tracebacks included, keeps one line per message, and libraries quiet."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import LIBRARY_LOGGERS, configure
from bot.redact import Redactor
from bot.settings import Secret, Settings

KEY = "gw-proxy-7f3kQ9zLmN2pX"  # a gateway key in no well-known format: only the configured value says it is one


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Configure logging as ``mergebot run`` does, into a buffer; restore the process's logging afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS})
    buffer = io.StringIO()
    configure(Settings(openai_api_key=Secret(KEY), slack_bot_token=Secret("xoxb-" + "1-configured-slack")))
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def test_a_traceback_that_quotes_the_key_is_masked(captured: io.StringIO) -> None:
    def call_api(api_key: str) -> None:
        raise RuntimeError(f"gateway refused key {api_key}")

    try:
        call_api(KEY)
    except RuntimeError:
        logging.getLogger("bot.service").exception("merge failed")
    text = captured.getvalue()
    assert "merge failed" in text and "Traceback" in text and "gateway refused key ***" in text
    assert KEY not in text


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("sk-" + "proj-Abc123def456ghi789", "sk-***"),
        ("gw_live_4eC39HqLyjWDarjtT1zdp7dc", "gw_live_***"),
        ("0123456789abcdef0123456789ABCDEF", "***"),  # Azure-style key
        ("xoxb-" + "123456789012-abcdefghijkl", "xoxb-***"),  # built, so no token-shaped literal is tracked
        ("xapp-" + "1-A0123456-0123456789-abcdef", "xapp-***"),
        ("Bearer eyJhbGciOiJIUzI1NiJ9abc", "Bearer ***"),
        ("MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.aBcDeFgHiJkLmNoPqRsTuVwXyZ012345", "***"),  # a Discord bot token
    ],
)
def test_anything_that_looks_like_a_key_is_masked(captured: io.StringIO, secret: str, shown: str) -> None:
    logging.getLogger("openai").warning("upstream said: invalid key %s (code 401)", secret)
    text = captured.getvalue()
    assert secret not in text
    assert f"invalid key {shown} (code 401)" in text


def test_a_file_name_decoded_from_a_link_cannot_forge_a_log_line(captured: io.StringIO) -> None:
    name = "cat.png\n2026-12-01 10:00:00 ERROR bot.service: admin password reset\r"
    logging.getLogger("bot.fetch").warning("could not fetch %s", name)
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith(r"could not fetch cat.png\n2026-12-01 10:00:00 ERROR bot.service: admin password reset\r")


def test_library_loggers_are_held_at_warning_by_default(captured: io.StringIO) -> None:
    for name in LIBRARY_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == logging.WARNING, name
    logging.getLogger("discord.gateway").debug("token aW50ZXJhY3Rpb246MTIzNDU2")
    logging.getLogger("slack_sdk.web.base_client").info("Sending a request - url: https://slack.com/api/x")
    assert captured.getvalue() == ""


def test_library_level_can_be_turned_up_and_its_tokens_stay_masked() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS})
    buffer = io.StringIO()
    try:
        configure(Settings.from_env({"MERGEBOT_LOG_LEVEL": "debug", "MERGEBOT_LIBRARY_LOG_LEVEL": "debug"}))
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
        assert logging.getLogger("discord.http").getEffectiveLevel() == logging.DEBUG
        lines = [
            "POST https://discord.com/api/v10/interactions/1234567890/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ/callback",
            "PATCH https://discord.com/api/v10/webhooks/111222333/aW50ZXJhY3Rpb246c2VjcmV0dG9rZW4/messages/@original",
            "GET https://cdn.discordapp.com/attachments/1/2/cat.png?ex=6a1b2c3d&is=6a1a0000&hm=deadbeefcafe00112233",
            "response_url https://hooks.slack.com/actions/T0001/123456/ZxCvBnMaSdFgHjKl",
            "connecting to wss://wss-primary.slack.com/link/?ticket=9f8e7d6c-secret-ticket&app_id=A1",
            "{'type': 2, 'token': 'aW50ZXJhY3Rpb246OTg3NjU0MzIx', 'id': '55'}",
        ]
        for line in lines:
            logging.getLogger("discord.http").debug(line)
        text = buffer.getvalue()
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    for secret in (
        "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ",
        "aW50ZXJhY3Rpb246c2VjcmV0dG9rZW4",
        "hm=deadbeefcafe00112233",
        "ZxCvBnMaSdFgHjKl",
        "9f8e7d6c-secret-ticket",
        "aW50ZXJhY3Rpb246OTg3NjU0MzIx",
    ):
        assert secret not in text
    assert "/interactions/1234567890/***" in text and "cdn.discordapp.com/attachments/1/2/cat.png?***" in text


def test_ordinary_text_is_left_alone() -> None:
    text = "merge 3f2a1b9c0d of A, B (1536x1024, 2 partials, 1450 output tokens) in 12.5 s; blob " + "ab" * 32
    assert Redactor(["sk-test-not-a-real-key"]).mask(text) == text
