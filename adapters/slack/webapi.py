"""The Slack Web API client and the one way this adapter calls it.

Every call goes through ``call``: a Web API error (``not_in_channel``, ``ratelimited``
after the retries, a network failure) is logged by method and error code and answered
with None, so no Slack error ends the bot. Tokens never reach a log line: slack_sdk
redacts the Authorization header and these messages name only the method.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.settings import Settings

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
CONNECTION_RETRIES = 2
TIMEOUT_S = 30


def web_client(settings: Settings) -> AsyncWebClient:
    """A Web API client on ``SLACK_API_URL`` that retries 429s, 5xx and dropped connections."""
    if settings.slack_bot_token is None:
        raise ValueError("the Slack adapter needs SLACK_BOT_TOKEN")
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return AsyncWebClient(
        token=settings.slack_bot_token.reveal(),
        base_url=base_url,
        timeout=TIMEOUT_S,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            AsyncServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
            AsyncConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
        ],
    )


async def call(method: str, request: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse | None:
    """Await one Web API request; on any Slack or network failure log it and return None."""
    try:
        return await request
    except SlackApiError as exc:
        log.warning("Slack %s failed: %s", method, error_code(exc))
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("Slack %s failed: %s", method, type(exc).__name__)
    return None


def error_code(exc: SlackApiError) -> str:
    """The ``error`` field of a failed Web API answer."""
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    return str(data.get("error") or f"HTTP {response.status_code}")


def message_key(channel: str, ts: str) -> str:
    """The message id stored with a job: a Slack ts is unique only within its channel."""
    return f"{channel}:{ts}"


def split_message_key(key: str) -> tuple[str, str] | None:
    """``(channel, ts)`` of a stored message id, or None for a file id."""
    channel, sep, ts = key.partition(":")
    return (channel, ts) if sep and channel and ts else None
