"""mergebot on Slack: merge a thread's images by mention, message shortcut or ``/merge``.

``run(settings, service)`` connects with Socket Mode when ``SLACK_APP_TOKEN`` is set, else
serves Slack's HTTP deliveries at ``/slack/events`` on ``SLACK_PORT`` with request
signatures verified (``SLACK_SIGNING_SECRET``). It runs until cancelled, then finishes
cleanly: background work is cancelled and connections are closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from bot.settings import Settings

from .app import build_app, check_app_token, create_context
from .context import SlackContext
from .resume import resume

if TYPE_CHECKING:
    from bot.health import Health
    from bot.service import MergeService

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


async def run(settings: Settings, service: MergeService) -> None:
    """Run the Slack adapter until cancelled."""
    await serve(settings, service)


async def serve(
    settings: Settings,
    service: MergeService,
    *,
    started: Callable[[SlackContext], None] | None = None,
) -> None:
    """``run`` with a hook that receives the adapter's context once it is set up."""
    ctx = await create_context(settings, service)
    socket_mode = settings.slack_app_token is not None
    app = build_app(ctx, http_mode=not socket_mode) if settings.role.takes_events else None
    service.deliver_for("slack", functools.partial(resume, ctx))
    if started is not None:
        started(ctx)
    try:
        if app is None:
            # Worker-only: jobs are shown through the Web API; Slack sends this replica no events.
            log.info("Slack: worker-only, posting through the Web API (no Socket Mode, no HTTP listener)")
            service.health.report("slack", True, "worker-only: Web API, no events")
            await asyncio.Event().wait()
        elif socket_mode:
            await _socket_mode(app, settings, service.health)
        else:
            await _http_mode(app, settings.listen_host, settings.slack_port, service.health)
    finally:
        await ctx.background.aclose()


async def _socket_mode(app: AsyncApp, settings: Settings, health: Health) -> None:
    assert settings.slack_app_token is not None
    await check_app_token(app.client, settings.slack_app_token.reveal())
    handler = AsyncSocketModeHandler(app, settings.slack_app_token.reveal(), web_client=app.client)
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("Slack: connected with Socket Mode")
        health.report("slack", True, "Socket Mode connected")
        await asyncio.Event().wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


def http_application(app: AsyncApp) -> web.Application:
    """An aiohttp application that hands ``POST /slack/events`` to the bolt app."""

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post(EVENTS_PATH, events)
    return web_app


async def _http_mode(app: AsyncApp, host: str, port: int, health: Health) -> None:
    runner = web.AppRunner(http_application(app), handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("Slack: listening for events on %s:%d%s", host, port, EVENTS_PATH)
        health.report("slack", True, f"HTTP mode, listening on port {port}")
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
