"""Submitted forms: Edit prompt, Use as reference, Roles…, Refine…, "Edit the marked area" and
"Merge images from here", answered
from their custom ids.

discord.py hands a modal submission only to the Modal object that opened it, and a
restart forgets that object. The client answers every submission of ours here
instead, from the form's custom id and the submitted text, so a form left open
while the bot restarts still works.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import discord

from bot.controls import JOB_ID_PATTERN
from bot.model import Action, ActionKind

from .actions import handle_action
from .commands import FROM_HERE_MODAL_PREFIX, merge_from_here
from .controls import (
    MARKED_INPUT_ID,
    PROMPT_INPUT_ID,
    PROMPT_MODAL_PREFIX,
    REFINE_MODAL_PREFIX,
    REGION_MODAL_PREFIX,
    ROLES_INPUT_ID,
    ROLES_MODAL_PREFIX,
    USE_MODAL_PREFIX,
)
from .region import edit_marked_area, marked_upload

EDIT_PROMPT_FORM = re.compile(rf"^{re.escape(PROMPT_MODAL_PREFIX)}(?P<job>{JOB_ID_PATTERN})$")
USE_AS_REFERENCE_FORM = re.compile(rf"^{re.escape(USE_MODAL_PREFIX)}(?P<job>{JOB_ID_PATTERN})$")
ROLES_FORM = re.compile(rf"^{re.escape(ROLES_MODAL_PREFIX)}(?P<job>{JOB_ID_PATTERN})$")
REFINE_FORM = re.compile(rf"^{re.escape(REFINE_MODAL_PREFIX)}(?P<job>{JOB_ID_PATTERN})$")
REGION_FORM = re.compile(rf"^{re.escape(REGION_MODAL_PREFIX)}(?P<message>[0-9]{{1,20}})$")
FROM_HERE_FORM = re.compile(rf"^{re.escape(FROM_HERE_MODAL_PREFIX)}(?P<message>[0-9]{{1,20}})$")


def submitted_values(components: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Text input custom id -> submitted text, from a modal submission's components (rows or labels)."""
    values: dict[str, str] = {}
    for component in components:
        if "value" in component and "custom_id" in component:
            values[str(component["custom_id"])] = str(component["value"])
        values.update(submitted_values(component.get("components", ())))
        if "component" in component:
            values.update(submitted_values([component["component"]]))
    return values


async def answer_form(interaction: discord.Interaction[Any]) -> None:
    """Answer a submitted form of ours; ignores every other interaction. Never raises."""
    if interaction.type is not discord.InteractionType.modal_submit or interaction.data is None:
        return
    data: Mapping[str, Any] = interaction.data
    custom_id = str(data.get("custom_id", ""))
    values = submitted_values(data.get("components", ()))
    prompt = values.get(PROMPT_INPUT_ID, "")
    roles = ROLES_FORM.match(custom_id)
    if roles is not None:
        action = Action(kind=ActionKind.ROLES, job_id=roles["job"])
        await handle_action(interaction, action, None, roles=values.get(ROLES_INPUT_ID, ""))
        return
    edit = EDIT_PROMPT_FORM.match(custom_id)
    if edit is not None:
        await handle_action(interaction, Action(kind=ActionKind.EDIT_PROMPT, job_id=edit["job"]), prompt)
        return
    use = USE_AS_REFERENCE_FORM.match(custom_id)
    if use is not None:
        await handle_action(interaction, Action(kind=ActionKind.USE_AS_REFERENCE, job_id=use["job"]), prompt)
        return
    refine = REFINE_FORM.match(custom_id)
    if refine is not None:
        marked = marked_upload(data, MARKED_INPUT_ID, interaction.user.display_name)
        action = Action(kind=ActionKind.REFINE, job_id=refine["job"])
        await handle_action(interaction, action, prompt, marked=marked)
        return
    region = REGION_FORM.match(custom_id)
    if region is not None:
        await edit_marked_area(interaction, int(region["message"]), prompt)
        return
    here = FROM_HERE_FORM.match(custom_id)
    if here is not None:
        await merge_from_here(interaction, int(here["message"]), prompt)
