"""/merge and the "Merge images from here" message menu."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import discord
from discord import app_commands

from bot.errors import InputError
from bot.gather import REFERENCE_MAX_SIDE
from bot.model import ImageSource, MergeOptions, MergeRequest, Mode, Origin
from bot.roles import parse_assignments, request_maps
from bot.settings import MAX_VARIATIONS

from . import gather
from .actions import REACTIONS_HELP, actor_of
from .context import AdapterContext, context_of
from .controls import MODAL_TIMEOUT_S, PROMPT_INPUT_ID, PROMPT_MAX, RegionModal
from .dedupe import first_interaction
from .escape import strip_markup
from .progress import StatusMessage, acknowledge
from .region import EDIT_MARKED_AREA_COMMAND
from .render import shown

logger = logging.getLogger(__name__)

MERGE_COMMAND = "merge"
FROM_HERE_COMMAND = "Merge images from here"
FROM_HERE_MODAL_PREFIX = "mbhere:"
MODE_CHOICES = [
    app_commands.Choice(name="Auto: each reference as its own image, the sheet past the limit", value=Mode.AUTO.value),
    app_commands.Choice(name="Collage: one labeled reference sheet", value=Mode.COLLAGE.value),
    app_commands.Choice(name="Separate: each reference as its own image", value=Mode.SEPARATE.value),
    app_commands.Choice(name="Hybrid: the labeled sheet, then each reference", value=Mode.HYBRID.value),
]
SIZE_CHOICES = [
    app_commands.Choice(name=name, value=value)
    for name, value in (
        ("Auto", "auto"),
        ("Square 1024×1024", "1024x1024"),
        ("Landscape 1536×1024", "1536x1024"),
        ("Portrait 1024×1536", "1024x1536"),
    )
]
QUALITY_CHOICES = [app_commands.Choice(name=q.title(), value=q) for q in ("auto", "low", "medium", "high")]
NEEDS_MESSAGE_CONTENT = (
    "I can't read the images in this conversation: my Message Content intent is off. "
    "A server admin can turn it on in the Discord Developer Portal (your app -> Bot -> Privileged Gateway "
    "Intents -> Message Content Intent) and restart me. Meanwhile, attach the images to /merge itself "
    "(image1 to image4)."
)
TARGET_GONE = "The message you chose is no longer there. Pick another one with Apps -> Merge images from here."
UNREAD = (
    "I can't read the rest of this conversation until the Message Content intent is on "
    "(Developer Portal -> your app -> Bot)."
)
ONLY_ATTACHED = f"Only the images attached to /merge were used: {UNREAD}"
ONLY_CHOSEN = f"Only the images of the chosen message were used: {UNREAD}"
START_LATER = "To merge later ones, pick the first of them with Apps → Merge images from here."
HELP = (
    "**/merge** `prompt:` what to make, e.g. `the character from A in the room from B`. In a thread every image "
    "is used, oldest first, labeled A, B, C…; in a channel the recent ones. Apps → Merge images from here "
    "starts from any message. `/merge prompt:usage` shows your merges and spend.\n"
    "Buttons on a result: Retry · More A, More B … · Roles… · Refine… · Edit prompt · Use as reference · Details · "
    "Delete. To change one area, draw on a copy of the result, post it, then Apps → Edit the marked area "
    "(or attach it in the Refine… form).\n"
    "`variations:` 2 to 4 gives a numbered grid: Pick N keeps one (no new call), Vary N makes more from it.\n"
    f"{REACTIONS_HELP}"
)
HELP_WORDS = frozenset({"help", "?"})
USAGE_WORDS = frozenset({"usage"})
NEEDS_HISTORY = (
    "I can't read the messages here. Give me the View Channel and Read Message History permissions "
    "in this channel (or thread's parent), then try again."
)


def origin_of(interaction: discord.Interaction[Any]) -> Origin:
    """Where the command ran and who ran it; in a thread both channel and thread are the thread."""
    channel = interaction.channel
    thread_id = str(channel.id) if isinstance(channel, discord.Thread) else None
    return Origin(
        platform="discord",
        workspace_id=str(interaction.guild_id or "dm"),
        channel_id=str(interaction.channel_id),
        user_id=str(interaction.user.id),
        thread_id=thread_id,
        user_name=interaction.user.display_name,
    )


def build_tree(client: discord.Client) -> app_commands.CommandTree[Any]:
    """The command tree with /merge and the message menu; synced only by ``mergebot discord sync``."""
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    @tree.command(name=MERGE_COMMAND, description="Merge the images of this thread (or recent channel messages)")
    @app_commands.describe(
        prompt="What to make, e.g. 'the character from A in the room from B'",
        image1="An extra reference image",
        image2="An extra reference image",
        image3="An extra reference image",
        image4="An extra reference image",
        mode="How the references reach the model",
        roles="What to take from each reference, e.g. A=subject C=style:high B=off",
        size="Size of the result",
        quality="Quality of the result",
        variations=f"How many pictures to make to pick from, 1 to {MAX_VARIATIONS} (one call; each counts)",
    )
    @app_commands.choices(mode=MODE_CHOICES, size=SIZE_CHOICES, quality=QUALITY_CHOICES)
    @app_commands.guild_only()
    async def merge(
        interaction: discord.Interaction[Any],
        prompt: app_commands.Range[str, 1, 4000],
        image1: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        mode: app_commands.Choice[str] | None = None,
        size: app_commands.Choice[str] | None = None,
        quality: app_commands.Choice[str] | None = None,
        roles: app_commands.Range[str, 1, 400] | None = None,
        variations: app_commands.Range[int, 1, MAX_VARIATIONS] | None = None,
    ) -> None:
        attachments = [a for a in (image1, image2, image3, image4) if a is not None]
        choices = {"mode": mode, "size": size, "quality": quality}
        picked = {k: v.value for k, v in choices.items() if v is not None}
        typed = {"roles": roles, "variations": str(variations) if variations is not None else None}
        await run_merge_command(interaction, prompt, attachments, picked | {k: v for k, v in typed.items() if v})

    @app_commands.context_menu(name=FROM_HERE_COMMAND)
    @app_commands.guild_only()
    async def from_here(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        context_of(interaction.client).remember_target(interaction, message)
        await interaction.response.send_modal(FromHereModal(message))

    tree.add_command(from_here)

    @app_commands.context_menu(name=EDIT_MARKED_AREA_COMMAND)
    @app_commands.guild_only()
    async def edit_marked(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        context_of(interaction.client).remember_target(interaction, message)
        await interaction.response.send_modal(RegionModal(message.id, strip_markup(message.content)))

    tree.add_command(edit_marked)
    return tree


async def run_merge_command(
    interaction: discord.Interaction[Any],
    prompt: str,
    attachments: list[discord.Attachment],
    choices: dict[str, str],
) -> None:
    """Acknowledge, gather the conversation's images, merge with live progress; never raises.
    ``/merge prompt:help`` and ``/merge prompt:usage`` answer privately instead."""
    context = context_of(interaction.client)
    if not await first_interaction(context, interaction):
        return
    word = prompt.strip().lower()
    if word in HELP_WORDS or word in USAGE_WORDS:
        await _answer_privately(context, interaction, word)
        return
    loading_id = await acknowledge(interaction)
    try:
        await _merge(context, interaction, prompt, attachments, choices, start=None, loading_id=loading_id)
    except Exception:
        logger.exception("/merge failed")
        await _report_crash(interaction)


async def _answer_privately(context: AdapterContext, interaction: discord.Interaction[Any], word: str) -> None:
    try:
        text = (await context.service.usage(actor_of(interaction))).text if word in USAGE_WORDS else HELP
        await interaction.response.send_message(text, ephemeral=True)
    except Exception:
        logger.exception("/merge %s failed", word)
        await _report_crash(interaction)


async def merge_from_here(interaction: discord.Interaction[Any], message_id: int, prompt: str) -> None:
    """The submitted "Merge images from here" form: merge that message and the ones after it; never raises."""
    context = context_of(interaction.client)
    if not await first_interaction(context, interaction):
        return
    loading_id = await acknowledge(interaction)
    try:
        # Anything else is looked up in the channel the form was submitted from, so an id from
        # another channel or server can never bring that channel's images here.
        start = context.target_for(interaction, message_id) or await _fetch_target(interaction, message_id)
        if start is None:
            await interaction.edit_original_response(content=TARGET_GONE)
            return
        await _merge(context, interaction, prompt, [], {}, start=start, loading_id=loading_id)
    except Exception:
        logger.exception("merge from message %s failed", message_id)
        await _report_crash(interaction)


async def _fetch_target(interaction: discord.Interaction[Any], message_id: int) -> discord.Message | None:
    """The chosen message after a restart forgot it (without Message Content it comes back without images)."""
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        return None
    try:
        return await channel.fetch_message(message_id)
    except (discord.NotFound, discord.Forbidden):
        return None


async def _merge(
    context: AdapterContext,
    interaction: discord.Interaction[Any],
    prompt: str,
    attachments: list[discord.Attachment],
    choices: dict[str, str],
    *,
    start: discord.Message | None,
    loading_id: int | None,
) -> None:
    """Gather, merge and show the outcome in one status message (``loading_id``: the deferral's message)."""
    channel = interaction.channel
    if not isinstance(channel, discord.abc.Messageable):
        await interaction.edit_original_response(content="I can only merge in a server text channel or thread.")
        return
    settings = context.settings
    mode = Mode(choices.get("mode", settings.mode.value))
    try:
        roles, weights = request_maps(parse_assignments(choices.get("roles", "")))
    except InputError as exc:  # the text quotes what the person typed: escaped like every echo
        await interaction.edit_original_response(content=shown(exc.user_message))
        return
    # A collage panel is never larger than the sheet; references sent on their own keep the core's full size.
    longest = min(settings.sheet_side, REFERENCE_MAX_SIDE) if mode is Mode.COLLAGE else REFERENCE_MAX_SIDE
    origin = origin_of(interaction)
    messages: list[discord.Message] = []
    if context.message_content:
        try:
            messages = await _conversation(context, channel, start, asked_at=interaction.id)
        except discord.Forbidden:
            await interaction.edit_original_response(content=NEEDS_HISTORY)
            return
    elif start is not None:
        messages = [start]  # an interaction carries its target message in full, even without the intent
    bot_id = interaction.client.user.id if interaction.client.user else 0
    sources: tuple[ImageSource, ...] = gather.sources_from(messages, bot_id=bot_id, longest_side=longest)
    if start is not None and isinstance(channel, discord.Thread) and context.message_content:
        sources = gather.from_message_on(sources, start.id)  # the thread's letters, from the chosen message
    sources += gather.option_sources(attachments, author=interaction.user.display_name, longest_side=longest)
    if not sources and not context.message_content:
        await interaction.edit_original_response(content=NEEDS_MESSAGE_CONTENT)
        return
    options = MergeOptions(
        prompt=prompt,
        mode=mode,
        model=settings.model,
        size=choices.get("size", "auto"),
        quality=choices.get("quality", "auto"),
        n=int(choices.get("variations", settings.variations)),
    )
    request = MergeRequest(
        origin=origin, sources=sources, options=options, weights=weights, roles=roles, start_later_hint=START_LATER
    )
    status = StatusMessage(
        context, channel, interaction=interaction, mention=interaction.user.mention, loading_id=loading_id
    )
    outcome = await context.service.merge(request, status.sink)
    if not context.message_content and not outcome.view.ephemeral:
        unread = ONLY_ATTACHED if start is None else ONLY_CHOSEN
        outcome = replace(outcome, view=replace(outcome.view, text=f"{outcome.view.text}\n{unread}"))
    await status.finish(outcome)


async def _conversation(
    context: AdapterContext, channel: discord.abc.Messageable, start: discord.Message | None, *, asked_at: int
) -> list[discord.Message]:
    if isinstance(channel, discord.Thread):  # from a message on: the whole thread gives the letters
        return [m for m in await gather.thread_messages(channel) if m.id < asked_at]
    if start is not None:
        return await gather.messages_from(start, before_id=asked_at)
    last = await context.service.last_result_in_channel("discord", str(getattr(channel, "id", "")))
    since = int(last.messages["result"]) if last is not None and "result" in last.messages else None
    return await gather.channel_messages(channel, since_message_id=since, before_id=asked_at)


async def _report_crash(interaction: discord.Interaction[Any]) -> None:
    text = "Something went wrong on my side and the merge did not run. Try again in a moment."
    try:
        await interaction.edit_original_response(content=text)
    except discord.HTTPException:
        logger.warning("could not report the failure either")


class FromHereModal(discord.ui.Modal):
    """Asks for the prompt for "Merge images from here".

    Its submission is answered by ``forms.answer_form`` from the custom id
    (``mbhere:<message id>``), so a form left open across a restart still works.
    """

    def __init__(self, message: discord.Message) -> None:
        super().__init__(
            title="Merge images from here", custom_id=f"{FROM_HERE_MODAL_PREFIX}{message.id}", timeout=MODAL_TIMEOUT_S
        )
        self.prompt: discord.ui.TextInput[FromHereModal] = discord.ui.TextInput(
            label="Prompt", custom_id=PROMPT_INPUT_ID, style=discord.TextStyle.paragraph, max_length=PROMPT_MAX
        )
        self.add_item(self.prompt)
