"""Persistent components: buttons and a select whose custom id is the only state they carry.

Buttons use bot.controls ids (``mb:<action>:<job>[:<arg>]``). The rebalance select
uses ``mbpick:<job>`` (``mbpick:<job>:<n>`` for the n-th when 25 options do not
suffice) and carries the chosen label as its value. Both are
``DynamicItem`` classes registered when the client starts, so a press on a
message posted before a restart still reaches the right stored job.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.controls import CUSTOM_ID_TEMPLATE, JOB_ID_PATTERN, decode, encode
from bot.model import Action, ActionKind, Control

from .context import context_of

logger = logging.getLogger(__name__)

BUTTON_TEMPLATE = CUSTOM_ID_TEMPLATE
SELECT_TEMPLATE = rf"mbpick:(?P<job>{JOB_ID_PATTERN})(?::(?P<part>[2-9]))?"
PROMPT_MODAL_PREFIX = "mbprompt:"
USE_MODAL_PREFIX = "mbuse:"
PROMPT_INPUT_ID = "prompt"
PROMPT_MAX = 4000  # Discord's text input limit
ROLES_MODAL_PREFIX = "mbroles:"
ROLES_INPUT_ID = "roles"
ROLES_MAX = 1000
REFINE_MODAL_PREFIX = "mbrefine:"  # the Refine… form of a result: mbrefine:<job>
REGION_MODAL_PREFIX = "mbregion:"  # "Edit the marked area" on a post: mbregion:<message id>
MARKED_INPUT_ID = "marked"
REFINE_QUESTION = "What should change?"
MODAL_TIMEOUT_S = 15 * 60.0  # discord.py forgets its Modal object after this; the submit is still answered
BUTTONS_PER_ROW = 5
REBALANCE_BUTTON_ROWS = 3  # rows 1-3; beyond 15 references a select menu takes row 1
SELECT_MAX_OPTIONS = 25
MAX_ROWS = 5  # Discord's limit of component rows per message
AFTER_REBALANCE = (ActionKind.ROLES, ActionKind.REFINE)
STYLES = {
    "primary": discord.ButtonStyle.primary,
    "secondary": discord.ButtonStyle.secondary,
    "danger": discord.ButtonStyle.danger,
    "success": discord.ButtonStyle.success,
}


def _emoji(control: Control) -> str | None:
    """Unicode emoji only: a name such as ":repeat:" is not something Discord renders in a button."""
    return control.emoji if control.emoji and not control.emoji.isascii() else None


class ControlButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=BUTTON_TEMPLATE):
    """A button for one core action on one stored job."""

    def __init__(self, action: Action, button: discord.ui.Button[Any] | None = None) -> None:
        super().__init__(button or discord.ui.Button(custom_id=encode(action), label=action.kind.value))
        self.action = action

    @classmethod
    def for_control(cls, control: Control, *, row: int) -> ControlButton:
        """The button that shows ``control`` in component row ``row``."""
        action = Action(kind=control.kind, job_id=control.job_id, arg=control.arg)
        button: discord.ui.Button[Any] = discord.ui.Button(
            custom_id=encode(action),
            label=control.label[:80],
            style=STYLES.get(control.style, discord.ButtonStyle.secondary),
            emoji=_emoji(control),
            row=row,
        )
        return cls(action, button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> ControlButton:
        action = decode(match.string)
        if action is None:
            raise ValueError(f"not a control id: {match.string!r}")
        return cls(action)

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await context_of(interaction.client).on_action(interaction, self.action, None)


class RebalanceSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=SELECT_TEMPLATE):
    """"More X" for many references: a select menu whose value is the label to favour."""

    def __init__(self, job_id: str, select: discord.ui.Select[Any] | None = None) -> None:
        super().__init__(select or discord.ui.Select(custom_id=f"mbpick:{job_id}"))
        self.job_id = job_id

    @classmethod
    def for_job(
        cls, job_id: str, options: list[discord.SelectOption], *, row: int, part: int = 1, placeholder: str
    ) -> RebalanceSelect:
        """The ``part``-th select (from 1) of a job's "More X" choices, in component row ``row``."""
        select: discord.ui.Select[Any] = discord.ui.Select(
            custom_id=f"mbpick:{job_id}" if part == 1 else f"mbpick:{job_id}:{part}",
            placeholder=placeholder,
            options=options,
            min_values=1,
            max_values=1,
            row=row,
        )
        return cls(job_id, select)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> RebalanceSelect:
        return cls(match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        values = self.item.values
        label = values[0] if values else ""
        if not label.isalpha() or not label.isupper():
            await interaction.response.send_message("Pick one reference letter.", ephemeral=True)
            return
        action = Action(kind=ActionKind.REBALANCE, job_id=self.job_id, arg=label)
        await context_of(interaction.client).on_action(interaction, action, None)


class EditPromptModal(discord.ui.Modal):
    """The Edit prompt form, pre-filled with the job's current prompt.

    Its submission is answered by ``forms.answer_form`` from the custom id
    (``mbprompt:<job>``), not by this object, so a form left open across a restart still works.
    """

    def __init__(self, job_id: str, current_prompt: str) -> None:
        super().__init__(title="Edit prompt", custom_id=f"{PROMPT_MODAL_PREFIX}{job_id}", timeout=MODAL_TIMEOUT_S)
        self.prompt: discord.ui.TextInput[EditPromptModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id=PROMPT_INPUT_ID,
            style=discord.TextStyle.paragraph,
            default=current_prompt[:PROMPT_MAX],
            max_length=PROMPT_MAX,
            required=True,
        )
        self.add_item(self.prompt)


class UseAsReferenceModal(discord.ui.Modal):
    """Use as reference asks for the next merge's prompt (pre-filled with this one) before it runs.

    Answered by ``forms.answer_form`` from its custom id (``mbuse:<job>``), like Edit prompt.
    """

    def __init__(self, job_id: str, current_prompt: str, label: str) -> None:
        super().__init__(
            title=f"Use this result as {label}", custom_id=f"{USE_MODAL_PREFIX}{job_id}", timeout=MODAL_TIMEOUT_S
        )
        self.prompt: discord.ui.TextInput[UseAsReferenceModal] = discord.ui.TextInput(
            label=f"Prompt for the next merge (the result is {label})"[:45],
            custom_id=PROMPT_INPUT_ID,
            style=discord.TextStyle.paragraph,
            default=current_prompt[:PROMPT_MAX],
            max_length=PROMPT_MAX,
            required=True,
        )
        self.add_item(self.prompt)


class RolesModal(discord.ui.Modal):
    """The Roles… form: the job's roles text (``A=subject:high B=none:medium``) to edit, or ``reset``.

    Answered by ``forms.answer_form`` from its custom id (``mbroles:<job>``), like Edit prompt.
    """

    def __init__(self, job_id: str, current_roles: str) -> None:
        custom_id = f"{ROLES_MODAL_PREFIX}{job_id}"
        super().__init__(title="Roles and strengths", custom_id=custom_id, timeout=MODAL_TIMEOUT_S)
        self.roles: discord.ui.TextInput[RolesModal] = discord.ui.TextInput(
            label="LABEL=role:strength, or reset",
            custom_id=ROLES_INPUT_ID,
            style=discord.TextStyle.paragraph,
            default=current_roles[:ROLES_MAX],
            placeholder="roles: subject style scene object none off; strengths: low medium high max",
            max_length=ROLES_MAX,
            required=True,
        )
        self.add_item(self.roles)


class RefineModal(discord.ui.Modal):
    """Refine…: "What should change?", and optionally a copy of the result with the area to change
    drawn on it (a region edit). Answered by ``forms.answer_form`` from its custom id (``mbrefine:<job>``)."""

    def __init__(self, job_id: str) -> None:
        custom_id = f"{REFINE_MODAL_PREFIX}{job_id}"
        super().__init__(title="Refine this result", custom_id=custom_id, timeout=MODAL_TIMEOUT_S)
        self.prompt: discord.ui.TextInput[RefineModal] = discord.ui.TextInput(
            custom_id=PROMPT_INPUT_ID,
            style=discord.TextStyle.paragraph,
            placeholder="e.g. make the sky stormy; everything else stays as it is",
            max_length=PROMPT_MAX,
            required=True,
        )
        self.add_item(discord.ui.Label(text=REFINE_QUESTION, component=self.prompt))
        self.marked: discord.ui.FileUpload[RefineModal] = discord.ui.FileUpload(
            custom_id=MARKED_INPUT_ID, required=False, max_values=1
        )
        self.add_item(
            discord.ui.Label(
                text="Only a marked area? (optional)",
                description="A copy of the result with the area to change drawn on it in a bright colour",
                component=self.marked,
            )
        )


class RegionModal(discord.ui.Modal):
    """"Edit the marked area" on a post: what should change there, pre-filled with the post's text.
    Answered by ``forms.answer_form`` from its custom id (``mbregion:<message id>``)."""

    def __init__(self, message_id: int, text: str) -> None:
        super().__init__(
            title="Edit the marked area", custom_id=f"{REGION_MODAL_PREFIX}{message_id}", timeout=MODAL_TIMEOUT_S
        )
        self.prompt: discord.ui.TextInput[RegionModal] = discord.ui.TextInput(
            label=REFINE_QUESTION,
            custom_id=PROMPT_INPUT_ID,
            style=discord.TextStyle.paragraph,
            default=text[:PROMPT_MAX] or None,
            max_length=PROMPT_MAX,
            required=True,
        )
        self.add_item(self.prompt)


def controls_view(controls: tuple[Control, ...]) -> discord.ui.View | None:
    """Components for ``controls``: "More X" as buttons while they fit in three rows, else select menus.

    Row 0 holds the job-wide controls (Retry, Edit prompt, Use as reference, Details, Delete).
    Past 15 references one select menu per 25 of them takes rows 1 to 4. Roles… follows the
    "More X" choices (it is where "less of X" lives), in the next free place. A grid of
    variations has Pick 1…N in row 1 and Vary 1…N in row 2 (and no "More X").
    """
    if not controls:
        return None
    view = discord.ui.View(timeout=None)
    for row, kind in ((1, ActionKind.PICK), (2, ActionKind.VARY)):
        for control in [c for c in controls if c.kind is kind][:BUTTONS_PER_ROW]:
            view.add_item(ControlButton.for_control(control, row=row))
    numbered = (ActionKind.PICK, ActionKind.VARY)
    rebalance = [c for c in controls if c.kind is ActionKind.REBALANCE and c.arg]
    # Roles… and Refine… change what the merge makes: they follow the "More X" choices.
    roles = [c for c in controls if c.kind in AFTER_REBALANCE]
    others = [c for c in controls if c.kind is not ActionKind.REBALANCE and c.kind not in (*AFTER_REBALANCE, *numbered)]
    if len(others) > BUTTONS_PER_ROW:
        logger.warning("dropped %d controls that do not fit in a row", len(others) - BUTTONS_PER_ROW)
    for control in others[:BUTTONS_PER_ROW]:
        view.add_item(ControlButton.for_control(control, row=0))
    if len(rebalance) <= BUTTONS_PER_ROW * REBALANCE_BUTTON_ROWS:
        for index, control in enumerate([*rebalance, *roles]):
            view.add_item(ControlButton.for_control(control, row=1 + index // BUTTONS_PER_ROW))
    elif rebalance:
        room = SELECT_MAX_OPTIONS * (MAX_ROWS - 1)
        if len(rebalance) > room:
            logger.warning("dropped More choices for %d references that do not fit", len(rebalance) - room)
        shown = rebalance[:room]
        chunks = [shown[i : i + SELECT_MAX_OPTIONS] for i in range(0, len(shown), SELECT_MAX_OPTIONS)]
        for part, chunk in enumerate(chunks, start=1):
            options = [
                discord.SelectOption(label=control.label[:100], value=str(control.arg), emoji=_emoji(control))
                for control in chunk
            ]
            placeholder = "More of one reference…" if len(chunks) == 1 else f"More of {chunk[0].arg}–{chunk[-1].arg}…"
            view.add_item(
                RebalanceSelect.for_job(chunk[0].job_id, options, row=part, part=part, placeholder=placeholder)
            )
        if roles and len(chunks) < MAX_ROWS - 1:
            for control in roles:
                view.add_item(ControlButton.for_control(control, row=1 + len(chunks)))
    return view
