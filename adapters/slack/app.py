"""The bolt app: handlers registered on an ``AsyncApp`` whose client talks to ``SLACK_API_URL``.

Every handler acknowledges first (Slack's 3 s window) and does the work as background
tasks; Events API retries are de-duplicated so one event makes one job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.settings import Settings

from . import commands, controls, reactions
from .context import BotIdentity, SlackContext
from .people import People
from .webapi import call, error_code, web_client

if TYPE_CHECKING:
    from bot.service import MergeService

log = logging.getLogger(__name__)

REFUSED_TOKEN_ERRORS = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type", "account_inactive"})


async def identify(client: AsyncWebClient) -> BotIdentity:
    """Who the bot is (``auth.test``); a refused token stops the start with a clear reason."""
    answer = await call("auth.test", client.auth_test())
    if answer is None or not answer.get("user_id"):
        raise ConfigError("Slack refused SLACK_BOT_TOKEN (auth.test failed); check the token and SLACK_API_URL.")
    return BotIdentity(str(answer["user_id"]), str(answer.get("bot_id") or ""), str(answer.get("team_id") or ""))


async def check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Socket Mode would retry a refused app token forever; refuse to start instead."""
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        if error_code(exc) in REFUSED_TOKEN_ERRORS:
            raise ConfigError(
                "Slack refused SLACK_APP_TOKEN (apps.connections.open); it needs the connections:write scope."
            ) from None
        log.warning("Slack apps.connections.open failed: %s; Socket Mode will keep trying", error_code(exc))


async def create_context(settings: Settings, service: MergeService) -> SlackContext:
    """The adapter's shared state, after checking the bot token (``auth.test``)."""
    client = web_client(settings)
    identity = await identify(client)
    paced = web_client(settings, retry_rate_limits=False)
    return SlackContext(settings, service, client, identity, People(client), progress_client=paced)


def build_app(ctx: SlackContext, *, http_mode: bool) -> AsyncApp:
    """An ``AsyncApp`` with every mergebot listener; HTTP mode verifies request signatures."""
    secret = ctx.settings.slack_signing_secret
    if http_mode and secret is None:
        raise ConfigError("HTTP mode needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode).")
    app = AsyncApp(
        client=ctx.client,
        signing_secret=secret.reveal() if http_mode and secret is not None else "",
        request_verification_enabled=http_mode,
        name="mergebot",
    )
    commands.register(app, ctx)
    controls.register(app, ctx)
    reactions.register(app, ctx)
    return app
