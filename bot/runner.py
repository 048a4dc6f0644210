"""``mergebot run``: start every chat platform whose credentials are set.

Adapters are found through the ``mergebot.platforms`` entry points (``bot/platforms.py``)
and imported only when enabled, so the core never imports upward and a Slack-only
deployment never imports discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

from . import platforms
from .health import serve_health
from .service import MergeService
from .settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_EVERY_S = 30.0
HEARTBEAT_STALE_S = 3 * HEARTBEAT_EVERY_S

NOTHING_TO_RUN = """No chat platform is configured. Set one of:
  Discord: DISCORD_TOKEN (then `mergebot discord sync` once to register /merge)
  Slack:   SLACK_BOT_TOKEN and SLACK_APP_TOKEN (Socket Mode), or SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (HTTP mode)
and OPENAI_API_KEY for generation. See README.md, "Configuration"."""

def enabled_platforms(settings: Settings) -> list[str]:
    platforms = []
    if settings.discord_enabled:
        platforms.append("discord")
    if settings.slack_enabled:
        platforms.append("slack")
    return platforms


def missing_settings(settings: Settings) -> str | None:
    """Why the bot cannot start, or None."""
    enabled = enabled_platforms(settings)
    if not enabled:
        return NOTHING_TO_RUN
    missing = [name for name in enabled if name not in platforms.installed()]
    if missing:
        return platforms.NOT_INSTALLED.format(name=missing[0], group=platforms.GROUP)
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY is not set: the bot cannot generate images without it."
    return None


def heartbeat_is_fresh(data_dir: Path, now: float | None = None) -> bool:
    """Whether a running bot touched its heartbeat file recently (the Docker healthcheck)."""
    try:
        age = (now or time.time()) - (data_dir / HEARTBEAT_FILE).stat().st_mtime
    except OSError:
        return False
    return age < HEARTBEAT_STALE_S


async def _beat(data_dir: Path) -> None:
    path = data_dir / HEARTBEAT_FILE
    while True:
        await asyncio.to_thread(path.touch)
        await asyncio.sleep(HEARTBEAT_EVERY_S)


async def run(settings: Settings) -> None:
    """Run every enabled adapter until one fails or the process is asked to stop."""
    service = await MergeService.open(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_beat(settings.data_dir))
            if settings.health_port is not None:
                group.create_task(serve_health(service.readiness, settings.health_port))
            for platform in enabled_platforms(settings):
                service.health.expect(platform)
                adapter = platforms.load(platform)
                log.info("starting %s", platform)
                group.create_task(adapter.run(settings, service))
            await stop.wait()
            log.info("stopping")
            raise _Stop
    except* _Stop:
        pass
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await service.aclose()


class _Stop(Exception):
    """Ends the task group on a signal."""
