"""The pure translation pieces: reactions to actions, controls to components, media proxy URLs."""

from __future__ import annotations

import logging
import re

import pytest

from adapters.discord.controls import SELECT_TEMPLATE, ControlButton, RebalanceSelect, controls_view
from adapters.discord.forms import EDIT_PROMPT_FORM, FROM_HERE_FORM, submitted_values
from adapters.discord.gather import media_url
from adapters.discord.reactions import reaction_action
from adapters.discord.render import clip
from bot.controls import DELETE_CONFIRMED, decode
from bot.model import Action, ActionKind, Control
from compose import sheet_label
from tests.discord.conftest import RunningBot, World
from tests.discord.session import result_of, thread_with_images
from tests.doubles.discord_double import DiscordDouble


@pytest.mark.parametrize(
    ("emoji", "expected"),
    [
        ("🔁", Action(ActionKind.RETRY, "job123")),
        ("🇦", Action(ActionKind.REBALANCE, "job123", "A")),
        ("🇿", Action(ActionKind.REBALANCE, "job123", "Z")),
        ("🗑️", Action(ActionKind.DELETE, "job123", DELETE_CONFIRMED)),
        ("🗑", Action(ActionKind.DELETE, "job123", DELETE_CONFIRMED)),
        ("🎉", None),
        ("A", None),
    ],
)
def test_reactions_map_to_actions(emoji: str, expected: Action | None) -> None:
    assert reaction_action(emoji, "job123") == expected


def controls(references: int) -> tuple[Control, ...]:
    labels = [sheet_label(i) for i in range(references)]
    return (
        Control(ActionKind.RETRY, "job123", "Retry", emoji="🔁", style="primary"),
        *(Control(ActionKind.REBALANCE, "job123", f"More {label}", arg=label) for label in labels),
        Control(ActionKind.EDIT_PROMPT, "job123", "Edit prompt", emoji="✏️"),
        Control(ActionKind.USE_AS_REFERENCE, "job123", "Use as reference"),
        Control(ActionKind.DETAILS, "job123", "Details", emoji="ℹ️"),
        Control(ActionKind.DELETE, "job123", "Delete", emoji="🗑️", style="danger"),
    )


@pytest.mark.parametrize("references", [1, 5, 15])
def test_rebalance_buttons_while_they_fit_in_three_rows(references: int) -> None:
    view = controls_view(controls(references))
    assert view is not None

    rows = view.to_components()

    assert len(rows) == 1 + -(-references // 5)
    assert all(len(row["components"]) <= 5 for row in rows)
    ids = [component["custom_id"] for row in rows for component in row["components"]]
    assert all(decode(custom_id) is not None for custom_id in ids)
    assert len(ids) == references + 5


def test_beyond_fifteen_references_a_select_menu_takes_their_place() -> None:
    view = controls_view(controls(16))
    assert view is not None

    rows = view.to_components()

    assert len(rows) == 2
    select = rows[1]["components"][0]
    assert select["type"] == 3
    assert select["custom_id"] == "mbpick:job123"
    assert [option["value"] for option in select["options"]] == [chr(ord("A") + i) for i in range(16)]
    assert isinstance(view.children[-1], RebalanceSelect)
    assert all(isinstance(item, ControlButton) for item in view.children[:-1])


def test_beyond_twenty_five_references_each_select_takes_the_next_twenty_five() -> None:
    view = controls_view(controls(30))
    assert view is not None

    rows = view.to_components()

    selects = [row["components"][0] for row in rows[1:]]
    assert [select["custom_id"] for select in selects] == ["mbpick:job123", "mbpick:job123:2"]
    assert [len(select["options"]) for select in selects] == [25, 5]
    assert [select["placeholder"] for select in selects] == ["More of A–Y…", "More of Z–AD…"]
    assert selects[1]["options"][-1]["value"] == "AD"
    assert all(re.fullmatch(SELECT_TEMPLATE, select["custom_id"]) for select in selects), "both reach the bot"


def test_no_controls_no_view() -> None:
    assert controls_view(()) is None


def test_an_ascii_emoji_name_is_left_out_of_a_button() -> None:
    button = ControlButton.for_control(Control(ActionKind.RETRY, "job123", "Retry", emoji=":repeat:"), row=0)
    assert button.item.emoji is None


def test_media_proxy_url_keeps_its_query_and_fits_the_longest_side() -> None:
    url = media_url("https://media.discordapp.net/attachments/1/2/a.png?ex=1&hm=ab", 4000, 1000, 2048)
    assert url == "https://media.discordapp.net/attachments/1/2/a.png?ex=1&hm=ab&width=2048&height=512"


def test_small_images_use_the_original() -> None:
    assert media_url("https://media.discordapp.net/a.png", 800, 600, 2048) is None
    assert media_url("https://media.discordapp.net/a.png", 0, 0, 2048) is None


@pytest.mark.parametrize(
    "components",
    [
        [{"type": 1, "components": [{"type": 4, "custom_id": "prompt", "value": "at night"}]}],  # action row
        [{"type": 18, "id": 1, "component": {"type": 4, "custom_id": "prompt", "value": "at night"}}],  # label
    ],
)
def test_a_submitted_form_s_text_is_found_in_rows_and_labels(components: list[dict[str, object]]) -> None:
    assert submitted_values(components) == {"prompt": "at night"}


def test_form_ids_name_the_job_or_the_chosen_message() -> None:
    edit = EDIT_PROMPT_FORM.match("mbprompt:ab12cd34ef")
    here = FROM_HERE_FORM.match("mbhere:1234567890123")
    assert edit is not None and edit["job"] == "ab12cd34ef"
    assert here is not None and here["message"] == "1234567890123"
    assert EDIT_PROMPT_FORM.match("mbprompt:ab") is None
    assert FROM_HERE_FORM.match("mbhere:x") is None


def test_text_is_clipped_to_discords_limit() -> None:
    assert clip("x" * 2500) == "x" * 1999 + "…"
    assert clip("short") == "short"


async def test_the_bot_token_never_reaches_the_logs(
    bot: RunningBot, discord_api: DiscordDouble, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    thread = await thread_with_images(discord_api, world.channel, world.alice, 2)
    interaction = await discord_api.slash_command(thread, world.alice, "merge", {"prompt": "quiet"})
    await result_of(discord_api, interaction)
    await bot.restart()

    assert discord_api.token not in caplog.text
    assert "sk-test-not-real" not in caplog.text
