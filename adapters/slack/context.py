"""What every Slack handler needs: settings, the core service, the Web API client,
who the bot is, the people directory and the background task set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.notices import NoticeThrottle
from bot.progress import RateBudget
from bot.settings import Settings

from .people import People

if TYPE_CHECKING:
    from bot.service import MergeService

log = logging.getLogger(__name__)

CHAT_UPDATE_PER_MINUTE = 40.0  # under Slack's Tier 3 (50 per minute), so results find room
CHAT_UPDATE_BURST = 8.0
POSTS_PER_MINUTE = 60.0
POST_BURST = 3.0


@dataclass(frozen=True)
class BotIdentity:
    """The answer of ``auth.test``: whose messages are the bot's own."""

    user_id: str
    bot_id: str
    team_id: str


class Background:
    """Work started after Slack's 3 s acknowledgement; failures are logged, never raised."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` in the background; ``name`` labels it in logs."""
        task = asyncio.get_running_loop().create_task(self._guard(work, name), name=f"slack:{name}")
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)

    async def _guard(self, work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Slack %s failed", name)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def idle(self) -> None:
        """Wait until no background work is running."""
        await self._idle.wait()

    async def aclose(self) -> None:
        """Cancel what still runs and wait for it to stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass
class SlackContext:
    """Shared state of one running Slack adapter."""

    settings: Settings
    service: MergeService
    client: AsyncWebClient
    identity: BotIdentity
    people: People
    background: Background = field(default_factory=Background)
    # Answers 429 at once instead of waiting it out: for progress edits (a newer state replaces
    # a throttled one) and for requests that back off on their own (``webapi.must_land``).
    progress_client: AsyncWebClient | None = None
    # chat.update is Tier 3 (50+ per minute per workspace); progress leaves room for results.
    edit_budget: RateBudget = field(default_factory=lambda: RateBudget(CHAT_UPDATE_PER_MINUTE, CHAT_UPDATE_BURST))

    # chat.postMessage: about one message per second per channel, short bursts allowed.
    post_budgets: dict[str, RateBudget] = field(default_factory=dict)

    def post_budget(self, channel: str) -> RateBudget:
        """The posting pace of one channel, shared by every merge posting there."""
        budget = self.post_budgets.get(channel)
        if budget is None:
            budget = self.post_budgets[channel] = RateBudget(POSTS_PER_MINUTE, POST_BURST)
        return budget

    @property
    def paced_client(self) -> AsyncWebClient:
        """The client for calls that handle 429 themselves."""
        return self.progress_client or self.client
    notices: NoticeThrottle = field(default_factory=NoticeThrottle)  # refusals: one per person per job per minute

    @property
    def token(self) -> str:
        """The bot token, for the Authorization header of file downloads only."""
        assert self.settings.slack_bot_token is not None
        return self.settings.slack_bot_token.reveal()
