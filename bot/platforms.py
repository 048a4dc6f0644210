"""Chat platforms, found through the ``mergebot.platforms`` entry point group (as pytest finds plugins).

The core never imports an adapter by name: ``pyproject.toml`` registers each adapter package
(``discord = "adapters.discord"``), and a platform is loaded only when it is enabled, so a
Slack-only deployment never imports discord.py. A platform module provides:

    async def run(settings, service) -> None          serve until cancelled
    def add_cli(subparsers) -> None                    optional: `mergebot <name> ...` commands
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Protocol, cast

from .errors import ConfigError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from .service import MergeService
    from .settings import Settings

GROUP = "mergebot.platforms"
NOT_INSTALLED = (
    "the {name} platform is not installed (no {group!r} entry point named {name!r}); "
    "reinstall mergebot (pip install .) so its entry points are registered"
)


class Platform(Protocol):
    """What ``bot/`` needs from a platform adapter."""

    run: Callable[[Settings, MergeService], Coroutine[Any, Any, None]]


def _registered() -> dict[str, EntryPoint]:
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group=GROUP)}


def installed() -> list[str]:
    """The names of the installed platforms, without importing any of them.

    Read straight from the ``entry_points.txt`` of each distribution on ``sys.path``, as
    ``importlib.metadata`` finds them: importing that module would cost ``mergebot --help``
    more than the rest of its start-up.
    """
    return sorted(set(_entry_names()))


def _entry_names() -> Iterator[str]:
    section = f"[{GROUP}]"
    for folder in sys.path:
        try:
            entries = list(os.scandir(folder or "."))
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as listing:
                    lines = [line.strip() for line in listing]
            except OSError:
                continue
            inside = False
            for line in lines:
                if line.startswith("["):
                    inside = line == section
                elif inside and "=" in line:
                    yield line.partition("=")[0].strip()


def load(name: str) -> Platform:
    """Import the platform ``name``; ``ConfigError`` when it is not installed or will not import."""
    entry = _registered().get(name)
    if entry is None:
        raise ConfigError(NOT_INSTALLED.format(name=name, group=GROUP))
    try:
        platform = entry.load()
    except ImportError as exc:
        raise ConfigError(f"the {name} platform could not be imported: {exc}") from None
    if not callable(getattr(platform, "run", None)):
        raise ConfigError(f"the {name} platform ({entry.value}) has no run(settings, service)")
    return cast(Platform, platform)


def add_cli(name: str, subparsers: argparse._SubParsersAction[Any]) -> bool:
    """Let platform ``name`` add its commands; False when it has none."""
    adder = getattr(load(name), "add_cli", None)
    if adder is None:
        return False
    adder(subparsers)
    return True
