"""The app manifest asks for exactly what the adapter listens to and calls."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from adapters.slack.commands import COMMAND, FROM_HERE_SHORTCUT_ID, SHORTCUT_ID

MANIFEST = Path(__file__).parents[2] / "adapters" / "slack" / "manifest.yaml"


def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_events_shortcut_and_command_match_the_handlers() -> None:
    data = manifest()
    assert set(data["settings"]["event_subscriptions"]["bot_events"]) == {"app_mention", "reaction_added"}
    shortcuts = [(s["type"], s["callback_id"], s["name"]) for s in data["features"]["shortcuts"]]
    assert shortcuts == [
        ("message", SHORTCUT_ID, "Merge images in this thread"),
        ("message", FROM_HERE_SHORTCUT_ID, "Merge images from here"),
    ]
    assert [c["command"] for c in data["features"]["slash_commands"]] == [COMMAND]
    assert data["settings"]["interactivity"]["is_enabled"] is True
    assert data["settings"]["socket_mode_enabled"] is True


def test_scopes_cover_every_web_api_method_the_bot_calls() -> None:
    scopes = set(manifest()["oauth_config"]["scopes"]["bot"])
    needed = {
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "chat:write",
        "commands",
        "files:read",
        "files:write",
        "reactions:read",
        "users:read",
    }
    assert needed <= scopes
    assert len(manifest()["display_information"]["long_description"]) >= 174  # Slack's minimum
