"""What a pressed control, a submitted Edit prompt form or a reaction does.

Every press is acknowledged at once (Discord allows 3 seconds): actions that
make a new merge get a public loading message that becomes their status
message; Details and Delete answer privately. Refusals are private and say why.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.model import Action, ActionKind, Actor, ImageSource, Job, Outcome
from bot.views import next_reference_label

from .context import AdapterContext, context_of
from .controls import EditPromptModal, RefineModal, RolesModal, UseAsReferenceModal, controls_view
from .dedupe import first_interaction
from .escape import escape
from .progress import StatusMessage, acknowledge, attempt
from .render import clip, shown

logger = logging.getLogger(__name__)

PRIVATE_ACTIONS = frozenset({ActionKind.DETAILS, ActionKind.DELETE})
PROMPTED_ACTIONS = frozenset({ActionKind.EDIT_PROMPT, ActionKind.USE_AS_REFERENCE, ActionKind.REFINE})
REACTIONS_HELP = (
    "Reactions on a result: 🔁 retry · 🇦 🇧 🇨 … more of that reference · 🗑️ delete (the requester only)."
)


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    """Who pressed, and whether they may manage messages in this channel."""
    return Actor(
        platform="discord",
        workspace_id=str(interaction.guild_id or "dm"),
        user_id=str(interaction.user.id),
        is_moderator=bool(interaction.permissions.manage_messages),
        user_name=interaction.user.display_name,
    )


async def handle_action(
    interaction: discord.Interaction[Any],
    action: Action,
    prompt: str | None,
    *,
    roles: str | None = None,
    marked: ImageSource | None = None,
) -> None:
    """Run ``action`` for the person behind ``interaction``; never raises.

    ``prompt`` and ``roles`` are the texts of a submitted Edit prompt, Refine or Roles… form;
    ``marked`` a Refine's copy of the result with the area to change drawn on it.
    """
    context = context_of(interaction.client)
    try:
        if await first_interaction(context, interaction):
            await _handle(context, interaction, action, prompt, roles, marked)
    except Exception:
        logger.exception("control %s on job %s failed", action.kind.value, action.job_id)
        await _apologise(interaction)


async def _handle(
    context: AdapterContext,
    interaction: discord.Interaction[Any],
    action: Action,
    prompt: str | None,
    roles: str | None,
    marked: ImageSource | None = None,
) -> None:
    service = context.service
    actor = actor_of(interaction)
    wants_form = (action.kind in PROMPTED_ACTIONS and prompt is None) or (
        action.kind is ActionKind.ROLES and roles is None
    )
    if wants_form:
        outcome = await service.act(action, actor)
        if outcome.needs_prompt and outcome.job is not None:
            await interaction.response.send_modal(_prompt_form(action, outcome.job, outcome.view.text))
        elif outcome.needs_roles:
            await interaction.response.send_modal(RolesModal(action.job_id, outcome.view.text))
        else:
            await interaction.response.send_message(shown(outcome.view.text), ephemeral=True)
        return
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        await interaction.response.send_message("I cannot post in this channel.", ephemeral=True)
        return
    private = action.kind in PRIVATE_ACTIONS
    loading_id = await acknowledge(interaction, ephemeral=private)
    status = StatusMessage(
        context,
        channel,
        interaction=interaction,
        ephemeral=private,
        mention=interaction.user.mention,
        loading_id=loading_id,
    )
    outcome = await service.act(action, actor, status.sink, prompt=prompt, roles=roles, marked=marked)
    if outcome.deleted:
        await delete_job_messages(interaction.client, outcome.job)
        await interaction.edit_original_response(content=shown(outcome.view.text))
        return
    if private and outcome.view.ephemeral:
        text = escape(outcome.view.text)
        if action.kind is ActionKind.DETAILS and outcome.ok:
            text += f"\n{REACTIONS_HELP}"
        await interaction.edit_original_response(content=clip(text), view=controls_view(outcome.view.controls))
        return
    if not outcome.ok and outcome.view.ephemeral and not context.notices.allow(actor.user_id, action.job_id):
        await interaction.delete_original_response()  # a repeated refusal: told once a minute is enough
        return
    await status.finish(outcome)


def _prompt_form(action: Action, job: Job, current_prompt: str) -> discord.ui.Modal:
    """The form that asks for the prompt of Edit prompt or Use as reference, pre-filled."""
    if action.kind is ActionKind.USE_AS_REFERENCE:
        return UseAsReferenceModal(action.job_id, current_prompt, next_reference_label(job))
    if action.kind is ActionKind.REFINE:
        return RefineModal(action.job_id)
    return EditPromptModal(action.job_id, current_prompt)


async def delete_job_messages(client: discord.Client, job: Job | None) -> int:
    """Delete every message recorded for ``job``; returns how many went. Missing ones are skipped."""
    if job is None:
        return 0
    channel = client.get_partial_messageable(int(job.origin.channel_id))
    deleted = 0
    for message_id in dict.fromkeys(job.messages.values()):
        try:
            await attempt("delete", channel.get_partial_message(int(message_id)).delete)
            deleted += 1
        except discord.NotFound:
            continue
        except discord.HTTPException as exc:
            logger.warning("could not delete message of job %s: %s", job.id, exc.status)
    return deleted


async def _apologise(interaction: discord.Interaction[Any]) -> None:
    text = "Something went wrong on my side; nothing was changed. Try again in a moment."
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)
    except discord.HTTPException:
        logger.warning("could not send the apology either")


async def run_outcome_in_channel(
    context: AdapterContext,
    channel: discord.abc.Messageable,
    action: Action,
    actor: Actor,
    *,
    reply_to: discord.PartialMessage,
    mention: str,
    client: discord.Client,
) -> Outcome:
    """Run ``action`` without an interaction (a reaction): status and result as channel messages."""
    status = StatusMessage(context, channel, reply_to=reply_to, mention=mention)
    outcome = await context.service.act(action, actor, status.sink)
    if outcome.deleted:
        await delete_job_messages(client, outcome.job)
    elif outcome.view.ephemeral:
        if context.notices.allow(actor.user_id, action.job_id):
            await status.private(outcome.view)
    else:
        await status.finish(outcome)
    return outcome
