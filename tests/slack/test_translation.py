"""Pure translations: reactions to actions, Slack file objects to download URLs, message text to captions."""

from __future__ import annotations

from adapters.slack.gather import best_url, clean_text, is_image
from adapters.slack.reactions import reaction_meaning
from adapters.slack.webapi import message_key, split_message_key
from bot.controls import DELETE_CONFIRMED
from bot.model import ActionKind


def test_reactions_map_to_actions() -> None:
    custom = {"a": "A", "b": "B", "cat": "C"}
    assert reaction_meaning("repeat", custom) == (ActionKind.RETRY, None)
    assert reaction_meaning("wastebasket", custom) == (ActionKind.DELETE, DELETE_CONFIRMED)
    assert reaction_meaning("b", custom) == (ActionKind.REBALANCE, "B")
    assert reaction_meaning("cat", custom) == (ActionKind.REBALANCE, "C")
    assert reaction_meaning("thumbsup::skin-tone-3", custom) is None
    assert reaction_meaning("repeat::skin-tone-2", custom) == (ActionKind.RETRY, None)


def test_thumb_1024_is_preferred_with_the_original_as_fallback() -> None:
    file = {
        "url_private": "https://files.slack.com/o.png",
        "thumb_360": "https://t/360",
        "thumb_1024": "https://t/1k",
        "thumb_720": "https://t/720",
        "thumb_1024_w": 1024,
    }
    assert best_url(file) == ("https://t/1k", "https://files.slack.com/o.png")


def test_the_largest_thumb_when_there_is_no_1024() -> None:
    file = {"url_private": "https://files.slack.com/o.png", "thumb_360": "https://t/360", "thumb_80": "https://t/80"}
    assert best_url(file) == ("https://t/360", "https://files.slack.com/o.png")


def test_no_thumbs_means_the_original() -> None:
    assert best_url({"url_private": "https://files.slack.com/o.gif"}) == ("https://files.slack.com/o.gif", None)
    assert best_url({"id": "F1"}) is None


def test_captions_drop_mentions() -> None:
    assert clean_text("<@U0MERGEBOT>   the cat <@U123|ann> from A\n") == "the cat from A"
    assert is_image({"mimetype": "image/heic"}) and not is_image({"mimetype": "text/plain"})


def test_message_keys_round_trip() -> None:
    assert split_message_key(message_key("C1", "1700000001.000100")) == ("C1", "1700000001.000100")
    assert split_message_key("F0123") is None
