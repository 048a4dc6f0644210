"""The Discord double checks what it receives against Discord's OpenAPI document."""

from __future__ import annotations

from tests.doubles.discord_double import spec_violations


def test_a_valid_message_body_passes() -> None:
    body = {"content": "hello", "attachments": [{"id": 0, "filename": "a.png"}]}

    assert spec_violations("/channels/{channel_id}/messages", "POST", body) == []


def test_an_overlong_message_and_a_bad_button_are_refused() -> None:
    body = {
        "content": "x" * 2001,
        "components": [{"type": 1, "components": [{"type": 2, "style": 2, "label": "A", "custom_id": "y" * 101}]}],
    }

    errors = spec_violations("/channels/{channel_id}/messages", "POST", body)

    assert any("content" in error for error in errors)
    assert any("components" in error for error in errors)


def test_an_unknown_interaction_callback_type_is_refused() -> None:
    assert spec_violations("/interactions/{interaction_id}/{interaction_token}/callback", "POST", {"type": 42})


def test_a_path_the_spec_does_not_know_is_reported() -> None:
    assert spec_violations("/channels/{channel_id}/nonsense", "POST", {}) != []
