"""The core finds the chat platforms through entry points and never imports an adapter by name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bot import platforms
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_nothing_in_bot_imports_an_adapter() -> None:
    upward = []
    for path in sorted((ROOT / "bot").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            upward += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "adapters"]
    assert upward == [], "bot/ finds platforms through the mergebot.platforms entry points"


def test_both_platforms_are_registered_and_load_with_their_run() -> None:
    assert platforms.installed() == ["discord", "slack"]
    for name in ("discord", "slack"):
        assert callable(platforms.load(name).run)


def test_a_platform_that_is_not_installed_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="the teams platform is not installed"):
        platforms.load("teams")


def test_the_installed_platforms_are_listed_as_importlib_metadata_finds_them() -> None:
    from importlib.metadata import entry_points

    assert platforms.installed() == sorted({entry.name for entry in entry_points(group=platforms.GROUP)})
