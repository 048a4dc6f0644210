"""Region edits on Discord: "Edit the marked area" on a person's post, and the marked copy a Refine
form carries. Either way the copy goes to the core's Refine of the latest result in the channel
(or of the job whose button opened the form), which finds the area drawn on it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import discord

from bot.model import Action, ActionKind, ImageSource

from .actions import handle_action
from .context import context_of

logger = logging.getLogger(__name__)

EDIT_MARKED_AREA_COMMAND = "Edit the marked area"
NO_MARKED_COPY = (
    "That post has no picture. Draw on a copy of the result (any bright colour) around what should change, "
    "post it here, then pick Apps → Edit the marked area on that post."
)
NO_RESULT_HERE = "There is no result here to edit yet. Run /merge first, then mark a copy of its result."
POST_GONE = "The post you chose is no longer there. Post the marked copy again and pick Apps → Edit the marked area."


def uploaded_source(payload: Mapping[str, Any], author: str) -> ImageSource:
    """The core's source for a file in an interaction's ``resolved.attachments`` (a form's upload)."""
    return ImageSource(
        name=str(payload.get("filename") or "marked copy"),
        url=str(payload["url"]),
        author=author,
        size_hint=int(payload.get("size") or 0) or None,
        content_type=str(payload.get("content_type") or ""),
    )


def marked_upload(data: Mapping[str, Any], custom_id: str, author: str) -> ImageSource | None:
    """The file uploaded in the form field ``custom_id`` of a modal submission, if one was."""
    attachments: Mapping[str, Any] = (data.get("resolved") or {}).get("attachments") or {}
    for value in _upload_values(data.get("components", ()), custom_id):
        payload = attachments.get(str(value))
        if payload is not None and payload.get("url"):
            return uploaded_source(payload, author)
    return None


def _upload_values(components: Any, custom_id: str) -> list[str]:
    for component in components or ():
        if component.get("custom_id") == custom_id and "values" in component:
            return [str(value) for value in component["values"]]
        nested = [*component.get("components", ()), *([component["component"]] if "component" in component else [])]
        found = _upload_values(nested, custom_id)
        if found:
            return found
    return []


def _first_picture(message: discord.Message) -> ImageSource | None:
    for attachment in message.attachments:
        if (attachment.content_type or "image/").startswith("image/"):
            return ImageSource(
                name=attachment.filename,
                url=attachment.url,
                author=message.author.display_name,
                size_hint=attachment.size,
                content_type=attachment.content_type or "",
            )
    return None


async def edit_marked_area(interaction: discord.Interaction[Any], message_id: int, prompt: str) -> None:
    """The submitted "Edit the marked area" form: refine the channel's latest result within the area
    drawn on the chosen post's picture. Never raises."""
    context = context_of(interaction.client)
    try:
        post = context.target_for(interaction, message_id) or await _fetch(interaction, message_id)
        if post is None:
            await interaction.response.send_message(POST_GONE, ephemeral=True)
            return
        marked = _first_picture(post)
        if marked is None:
            await interaction.response.send_message(NO_MARKED_COPY, ephemeral=True)
            return
        job = await context.service.last_result_in_channel("discord", str(interaction.channel_id))
        if job is None:
            await interaction.response.send_message(NO_RESULT_HERE, ephemeral=True)
            return
    except Exception:
        logger.exception("edit the marked area on message %s failed", message_id)
        await interaction.response.send_message("Something went wrong on my side; nothing ran.", ephemeral=True)
        return
    await handle_action(interaction, Action(ActionKind.REFINE, job.id), prompt, marked=marked)


async def _fetch(interaction: discord.Interaction[Any], message_id: int) -> discord.Message | None:
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        return None
    try:
        return await channel.fetch_message(message_id)
    except (discord.NotFound, discord.Forbidden):
        return None
