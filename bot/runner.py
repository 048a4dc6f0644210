"""``mergebot run``: start every chat platform whose credentials are set.

Adapters are found through the ``mergebot.platforms`` entry points (``bot/platforms.py``)
and imported only when enabled, so the core never imports upward and a Slack-only
deployment never imports discord.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from . import platforms
from .errors import ConfigError, MergebotError
from .health import serve_health
from .service import MergeService
from .settings import Settings
from .storage_faults import unusable_reason

log = logging.getLogger(__name__)

HEARTBEAT_FILE = "heartbeat"
HEARTBEAT_EVERY_S = 30.0
HEARTBEAT_STALE_S = 3 * HEARTBEAT_EVERY_S
WRITE_PROBE = ".write-probe"
WRITE_PROBE_BYTES = 64 * 1024

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


async def open_service(settings: Settings) -> MergeService:
    """The service on a data dir that takes writes; any reason it cannot start is a one-line ``ConfigError``."""
    where = f"MERGEBOT_DATA_DIR ({settings.data_dir})"
    try:
        await asyncio.to_thread(_probe_writes, settings.data_dir)
    except OSError as exc:
        raise ConfigError(f"{where} cannot be used: {unusable_reason(exc)}.") from None
    try:
        return await MergeService.open(settings)
    except MergebotError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"the job store ({settings.store_driver}) in {where} cannot be opened: {unusable_reason(exc)}."
        ) from None


def _probe_writes(data_dir: Path) -> None:
    """Write (and sync) a little to the data dir: a read-only or full disk fails here, not mid-merge."""
    data_dir.mkdir(parents=True, exist_ok=True)
    probe = data_dir / WRITE_PROBE
    try:
        with probe.open("wb") as handle:
            handle.write(b"\0" * WRITE_PROBE_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run every enabled adapter until one fails or the process is asked to stop (SIGTERM,
    SIGINT, or ``stop``); a stop lets running merges finish within the grace period."""
    service = await open_service(settings)
    service.warm_up()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_beat(settings.data_dir))
            if settings.health_port is not None:
                group.create_task(serve_health(service.readiness, settings.health_port, settings.listen_host))
            for platform in enabled_platforms(settings):
                service.health.expect(platform)
                adapter = platforms.load(platform)
                log.info("starting %s", platform)
                group.create_task(adapter.run(settings, service))
            await stop.wait()
            await _drain(service, settings.shutdown_grace_s)
            raise _Stop
    except* _Stop:
        pass
    except* ConfigError as refused:  # e.g. a platform refused its token: one line, not a group
        raise refused.exceptions[0] from None
    finally:
        for sig in signals:
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
        await service.aclose()


async def _drain(service: MergeService, grace_s: float) -> None:
    """Take no new merges, release the waiting ones, give running ones ``grace_s`` to finish."""
    released = service.stop()
    running = service.running - released
    if not running and not released:
        log.info("stopping")
        return
    log.info(
        "stopping: %d merges running get up to %.0f s to finish; %d waiting were told and stay queued",
        running,
        grace_s,
        released,
    )
    left = await service.settle(grace_s)
    if left:
        log.warning("stopping with %d merges unfinished after %.0f s; they resume at the next start", left, grace_s)
    else:
        log.info("every running merge finished; stopping")


class _Stop(Exception):
    """Ends the task group on a signal."""
