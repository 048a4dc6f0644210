"""The Slack Web API client and the one way this adapter calls it.

Every call goes through ``call``: a Web API error (``not_in_channel``, ``ratelimited``
after the retries, a network failure) is logged by method and error code and answered
with None, so no Slack error ends the bot. Tokens never reach a log line: slack_sdk
redacts the Authorization header and these messages name only the method.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.progress import RateBudget
from bot.settings import Settings

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2
CONNECTION_RETRIES = 2
TIMEOUT_S = 30


# Errors that mean the bot may not post in a channel; anything else is worth another try later.
CANNOT_POST_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "missing_scope", "restricted_action", "is_archived", "no_permission"}
)
# How long a message that must land (a first status post, a final result) keeps trying on 429s:
# Slack posts about one message per second per channel, so a burst of 40 needs about 40 s.
MUST_LAND_WITHIN_S = 180.0
MUST_LAND_JITTER_S = 0.5  # per attempt so far (at most 4), so a burst does not retry in lockstep


def web_client(settings: Settings, *, retry_rate_limits: bool = True) -> AsyncWebClient:
    """A Web API client on ``SLACK_API_URL`` that retries 5xx and dropped connections, and 429s
    unless ``retry_rate_limits`` is False (progress edits: a newer state replaces a throttled one)."""
    if settings.slack_bot_token is None:
        raise ValueError("the Slack adapter needs SLACK_BOT_TOKEN")
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    handlers = [
        AsyncServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
        AsyncConnectionErrorRetryHandler(max_retry_count=CONNECTION_RETRIES),
    ]
    if retry_rate_limits:
        handlers.insert(0, AsyncRateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES))
    return AsyncWebClient(
        token=settings.slack_bot_token.reveal(), base_url=base_url, timeout=TIMEOUT_S, retry_handlers=handlers
    )


@dataclass(frozen=True)
class Answer:
    """What one Web API request came back with: the response, or Slack's error code."""

    response: AsyncSlackResponse | None
    error: str | None = None
    retry_after_s: float | None = None  # set when Slack answered 429

    @property
    def rate_limited(self) -> bool:
        return self.retry_after_s is not None


async def request(method: str, pending: Awaitable[AsyncSlackResponse]) -> Answer:
    """Await one Web API request; a Slack or network failure is logged and answered, never raised."""
    try:
        return Answer(await pending)
    except SlackApiError as exc:
        code = error_code(exc)
        log.warning("Slack %s failed: %s", method, code)
        return Answer(None, code, retry_after(exc))
    except (SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("Slack %s failed: %s", method, type(exc).__name__)
        return Answer(None, type(exc).__name__)


async def call(method: str, pending: Awaitable[AsyncSlackResponse]) -> AsyncSlackResponse | None:
    """Await one Web API request; on any Slack or network failure log it and return None."""
    return (await request(method, pending)).response


async def must_land(
    method: str, make: Callable[[], Awaitable[AsyncSlackResponse]], budget: RateBudget | None = None
) -> Answer:
    """A request that matters (a first post, a final result): on 429 wait as long as Slack says
    (plus a little jitter) and try again, for up to ``MUST_LAND_WITHIN_S``; other errors answer at once.

    With a ``budget`` (a channel's posting pace) each attempt waits its turn first, so a burst of
    merges in one channel queues here instead of collecting 429s; a 429 pauses the whole budget.
    """
    deadline = time.monotonic() + MUST_LAND_WITHIN_S
    for attempt in itertools.count():
        if budget is not None:
            await budget.wait()
        answer = await request(method, make())
        if not answer.rate_limited:
            return answer
        pause = (answer.retry_after_s or 1.0) + random.uniform(0, MUST_LAND_JITTER_S * min(attempt, 4))
        if budget is not None:
            budget.pause(pause)
        if time.monotonic() + pause > deadline:
            return answer
        await asyncio.sleep(pause)
    raise AssertionError("unreachable")


def retry_after(exc: SlackApiError) -> float | None:
    """Slack's Retry-After (seconds) when it answered 429, else None."""
    response = exc.response
    if response.status_code != 429:
        return None
    for name, value in (response.headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


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
