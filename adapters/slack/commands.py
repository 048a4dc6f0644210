"""The ways to start a merge: @mention in a thread, the message shortcuts "Merge images in
this thread" and "Merge images from here" with their modal, and ``/merge`` in a channel
(Slack does not run slash commands inside threads). ``/merge help`` and ``/merge usage``
answer only the person who asked."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.errors import InputError
from bot.model import MergeOptions, MergeRequest, Mode, Origin
from bot.roles import EXAMPLE, NO_ASSIGNMENTS, ROLE_WORDS, STRENGTH_WORDS, Assignments, parse_assignments, request_maps
from bot.settings import MAX_VARIATIONS

from . import blocks
from .context import SlackContext
from .dedupe import first_delivery, first_interaction
from .emoji import reactions_help
from .escape import escape
from .gather import Found, channel_images, clean_text, images_from, images_in, thread_messages
from .progress import StatusMessage
from .refine import refine_if_the_rule_says
from .render import MERGE_CRASHED, ephemeral, reply_privately, show_outcome
from .webapi import CANNOT_POST_ERRORS, call, message_key, must_land

log = logging.getLogger(__name__)

SHORTCUT_ID = "merge_thread"
FROM_HERE_SHORTCUT_ID = "merge_from_here"
MERGE_MODAL_ID = "mb_merge_modal"
ROLES_INPUT_MAX = 400
ERROR_TEXT_MAX = 300
COMMAND = "/merge"
PLAIN_INPUT_MAX = 3000  # Slack's plain_text_input limit
SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("auto", "low", "medium", "high")
THREAD_HINT = (
    "To merge the images of a thread, mention @mergebot there with your prompt, or use the message "
    "shortcut “Merge images in this thread”. (Slack does not run slash commands inside threads.)"
)
CANNOT_POST = "I can't post in this channel. Invite me with /invite @mergebot, then try again."
NOT_POSTED = "Slack did not take my message just now, so I did not start the merge. Try again in a moment."
CANNOT_READ = "I can't read this channel. Invite me with /invite @mergebot, then try again."
NO_CHANNEL_IMAGES = "I found no images in the recent messages here."
START_LATER = "To merge later ones, choose “Merge images from here” in the ⋮ menu of the first of them."
MENTION_USAGE = "Say what to make after the mention, e.g. @mergebot the cat from A in the room from B."
USAGE = (
    "/merge <prompt> merges the most recent images in this channel, e.g. "
    "/merge the cat from A sitting in the room from B.\n" + THREAD_HINT + "\n"
    "“Merge images from here” (the ⋮ menu of a message) merges that message and the ones after it.\n"
    "/merge usage shows your merges and estimated spend.\n"
    "Buttons on a result: Retry · More A, More B … · Roles… · Refine… · Edit prompt · Use as reference · "
    "Details · Delete.\n"
    "In a thread with a result, a mention with no new images refines that result, and a mention carrying a "
    "copy of it with an area drawn on it changes only that area; new images start a new merge.\n"
    "Ask for 2 to 4 variations in the shortcut's form: Pick N keeps one (no new call), Vary N makes more from it."
)
HELP_WORDS = frozenset({"help", "?"})


def help_text(extra_rebalance: Mapping[str, str]) -> str:
    """``/merge help``: how to start a merge, the buttons, and every reaction that works."""
    return f"{USAGE}\n{reactions_help(extra_rebalance)}"


USAGE_WORD = "usage"


def default_options(ctx: SlackContext, prompt: str) -> MergeOptions:
    """Options for a mention or /merge: the prompt with the configured model and mode."""
    return MergeOptions(prompt=prompt, mode=ctx.settings.mode, model=ctx.settings.model, n=ctx.settings.variations)


async def merge_thread(
    ctx: SlackContext,
    team_id: str,
    channel: str,
    thread_ts: str,
    user_id: str,
    options: MergeOptions,
    response_url: str | None = None,
    roles: Assignments = NO_ASSIGNMENTS,
    *,
    mention: Mapping[str, Any] | None = None,
) -> None:
    """Gather a thread's images and merge them, showing progress and the result in that thread.
    For a ``mention`` (its event) in a thread that has a result, the mention rule may make it a
    Refine of that result instead; the reply says which rule applied."""
    status = StatusMessage(ctx, channel, thread_ts)
    if not await status.show("📥 Looking for images in this thread…"):
        log.warning("cannot post in channel %s (%s); not merging what nobody would see", channel, status.post_error)
        await reply_privately(ctx, channel, user_id, thread_ts, why_not_posted(status.post_error), response_url)
        return
    messages = await thread_messages(ctx, channel, thread_ts)
    note = ""
    if mention is not None:
        rule = await refine_if_the_rule_says(ctx, team_id, user_id, options.prompt, mention, messages, status)
        if rule == "":
            return
        note = f"\n{rule}" if rule else ""
    found = await images_in(ctx, messages)
    await _merge(ctx, team_id, status, user_id, options, found, roles, note)


def why_not_posted(error: str | None) -> str:
    """What to tell the person when the first post failed: an invitation only when one would help."""
    return CANNOT_POST if error in CANNOT_POST_ERRORS else NOT_POSTED


async def merge_channel(
    ctx: SlackContext, team_id: str, channel: str, user_id: str, prompt: str, response_url: str | None = None
) -> None:
    """``/merge``: the channel's recent images, in a new thread started for the result."""
    found = await channel_images(ctx, channel, ctx.settings.limits.max_images)
    if found is None or not found.sources:
        text = CANNOT_READ if found is None else f"{NO_CHANNEL_IMAGES}\n{THREAD_HINT}"
        await reply_privately(ctx, channel, user_id, None, text, response_url)
        return
    count = len(found.sources)
    what = "the most recent image" if count == 1 else f"the {count} most recent images"
    intro = f"<@{user_id}> asked me to merge {what} here: “{escape(prompt)}”"
    client = ctx.paced_client
    posted = await must_land(
        "chat.postMessage",
        lambda: client.chat_postMessage(
            channel=channel,
            text=blocks.fallback_text(intro, markup=True),
            blocks=[blocks.section(intro, markup=True), blocks.context(THREAD_HINT)],
        ),
        ctx.post_budget(channel),
    )
    root = posted.response
    if root is None:
        await reply_privately(ctx, channel, user_id, None, why_not_posted(posted.error), response_url)
        return
    status = StatusMessage(ctx, channel, str(root["ts"]))
    await status.record("request", message_key(channel, str(root["ts"])))
    await _merge(ctx, team_id, status, user_id, default_options(ctx, prompt), found)


async def _merge(
    ctx: SlackContext,
    team_id: str,
    status: StatusMessage,
    user_id: str,
    options: MergeOptions,
    found: Found,
    assignments: Assignments = NO_ASSIGNMENTS,
    note: str = "",
) -> None:
    person = await ctx.people.get(user_id)
    origin = Origin(
        platform="slack",
        workspace_id=team_id,
        channel_id=status.channel,
        user_id=user_id,
        thread_id=status.thread_ts,
        user_name=person.name,
    )
    roles, weights = request_maps(assignments)
    try:
        request = MergeRequest(
            origin, found.sources, options, weights=weights, roles=roles, start_later_hint=START_LATER
        )
        outcome = await ctx.service.merge(request, status.sink)
    except Exception:
        log.exception("merge in %s failed unexpectedly", status.channel)
        await status.finish(f"⚠️ {MERGE_CRASHED}")
        return
    await show_outcome(ctx, outcome, status, user_id, found.note() + note)


async def merge_from_here(
    ctx: SlackContext,
    team_id: str,
    channel: str,
    where: dict[str, Any],
    user_id: str,
    options: MergeOptions,
    roles: Assignments = NO_ASSIGNMENTS,
) -> None:
    """"Merge images from here": the chosen message (``where["f"]``) and the ones after it, in its
    thread when it is in one (``where["h"]``), answered in that thread (``where["t"]``)."""
    response_url = where.get("r")
    status = StatusMessage(ctx, channel, str(where["t"]))
    if not await status.show("📥 Looking for images from that message on…"):
        await reply_privately(ctx, channel, user_id, status.thread_ts, CANNOT_POST, response_url)
        return
    thread_ts = str(where["t"]) if where.get("h") else None
    found = await images_from(ctx, channel, str(where["f"]), thread_ts)
    await _merge(ctx, team_id, status, user_id, options, found, roles)


async def answer_usage(ctx: SlackContext, team_id: str, channel: str, user_id: str, response_url: str | None) -> None:
    """``/merge usage``: the person's merges and spend (and the workspace's for admins), privately."""
    actor = await ctx.people.actor(team_id, user_id)
    view = await ctx.service.usage(actor)
    await reply_privately(ctx, channel, user_id, None, view.text, response_url)


def merge_modal(
    ctx: SlackContext,
    channel: str,
    thread_ts: str,
    response_url: str | None,
    *,
    from_ts: str | None = None,
    in_thread: bool = True,
) -> dict[str, Any]:
    """The shortcuts' modal: prompt, mode, size and quality. It remembers the thread (or, from
    "Merge images from here", the chosen message and whether it is in a thread) and the
    shortcut's ``response_url`` (to answer privately where the bot cannot post)."""
    max_chars = min(PLAIN_INPUT_MAX, ctx.settings.limits.max_prompt_chars)
    where: dict[str, Any] = {"c": channel, "t": thread_ts, "r": response_url}
    if from_ts is not None:
        where.update(f=from_ts, h=in_thread)
    hint = (
        "Images are labeled A, B, C… in the order they were posted."
        if from_ts is None
        else "This message and the ones after it are used, labeled A, B, C… in the order they were posted."
    )
    return {
        "type": "modal",
        "callback_id": MERGE_MODAL_ID,
        "title": blocks.plain("Merge images" if from_ts is None else "Merge from here"),
        "submit": blocks.plain("Merge"),
        "close": blocks.plain("Cancel"),
        "private_metadata": json.dumps(where),
        "blocks": [
            {
                "type": "input",
                "block_id": "prompt",
                "label": blocks.plain("What should I make?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "prompt",
                    "multiline": True,
                    "max_length": max_chars,
                    "placeholder": blocks.plain("The cat from A sitting in the room from B, lit like C"),
                },
                "hint": blocks.plain(hint, 2000),
            },
            _select("mode", "Mode", [m.value for m in Mode], ctx.settings.mode.value),
            {
                "type": "input",
                "block_id": "roles",
                "optional": True,
                "label": blocks.plain("Roles and strengths"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "roles",
                    "max_length": ROLES_INPUT_MAX,
                    "placeholder": blocks.plain(EXAMPLE),
                },
                "hint": blocks.plain(
                    f"LABEL=ROLE[:STRENGTH]. Roles: {', '.join(ROLE_WORDS)}. Strengths: {', '.join(STRENGTH_WORDS)}.",
                    2000,
                ),
            },
            _select("size", "Size", list(SIZES), "auto"),
            _select("quality", "Quality", list(QUALITIES), "auto"),
            _select(
                "variations",
                "Variations to pick from (one call; each counts)",
                [str(n) for n in range(1, MAX_VARIATIONS + 1)],
                str(ctx.settings.variations),
            ),
        ],
    }


def _select(name: str, label: str, values: list[str], initial: str) -> dict[str, Any]:
    options = [{"text": blocks.plain(v), "value": v} for v in values]
    return {
        "type": "input",
        "block_id": name,
        "label": blocks.plain(label),
        "element": {
            "type": "static_select",
            "action_id": name,
            "options": options,
            "initial_option": next(o for o in options if o["value"] == initial),
        },
    }


def _selected(values: dict[str, Any], name: str, default: str) -> str:
    option = (values.get(name, {}).get(name) or {}).get("selected_option") or {}
    return str(option.get("value") or default)


def options_from_modal(ctx: SlackContext, values: dict[str, Any]) -> MergeOptions:
    """The merge options a person chose in the shortcut's modal (``view.state.values``)."""
    prompt = str((values.get("prompt", {}).get("prompt") or {}).get("value") or "").strip()
    mode = _selected(values, "mode", ctx.settings.mode.value)
    return MergeOptions(
        prompt=prompt,
        mode=Mode(mode) if mode in {m.value for m in Mode} else ctx.settings.mode,
        model=ctx.settings.model,
        size=_selected(values, "size", "auto"),
        quality=_selected(values, "quality", "auto"),
        n=_variations(_selected(values, "variations", str(ctx.settings.variations)), ctx.settings.variations),
    )


def _variations(chosen: str, default: int) -> int:
    """The modal's variations choice; anything but 1 to ``MAX_VARIATIONS`` (a forged submission) is the default."""
    return int(chosen) if chosen.isdigit() and 1 <= int(chosen) <= MAX_VARIATIONS else default


async def mentioned(ctx: SlackContext, body: dict[str, Any]) -> None:
    """``@mergebot <prompt>``: merge the thread (or the mentioning message's own files)."""
    if not await first_delivery(ctx, body):
        return
    event = body["event"]
    channel, user = str(event["channel"]), str(event.get("user") or "")
    thread_ts = str(event.get("thread_ts") or event["ts"])
    prompt = clean_text(str(event.get("text") or ""))
    if not prompt:
        await ephemeral(ctx, channel, user, thread_ts, MENTION_USAGE)
        return
    team = str(body.get("team_id") or event.get("team") or "")
    # In a thread that has a result, the mention may refine it instead (adapters/slack/refine.py).
    mention = event if event.get("thread_ts") else None
    await merge_thread(ctx, team, channel, thread_ts, user, default_options(ctx, prompt), mention=mention)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Listen for mentions, the shortcut (and its modal) and /merge."""

    @app.event("app_mention")
    async def on_mention(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        ctx.background.spawn(mentioned(ctx, body), "mention")

    @app.shortcut(SHORTCUT_ID)
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        thread_ts = str(message.get("thread_ts") or message.get("ts") or body.get("message_ts") or "")
        modal = merge_modal(ctx, channel, thread_ts, body.get("response_url"))
        await call("views.open", ctx.client.views_open(trigger_id=body["trigger_id"], view=modal))

    @app.shortcut(FROM_HERE_SHORTCUT_ID)
    async def on_from_here(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        message = body.get("message") or {}
        channel = str((body.get("channel") or {}).get("id") or "")
        ts = str(message.get("ts") or body.get("message_ts") or "")
        in_thread = bool(message.get("thread_ts") or message.get("reply_count"))
        thread_ts = str(message.get("thread_ts") or ts)
        modal = merge_modal(ctx, channel, thread_ts, body.get("response_url"), from_ts=ts, in_thread=in_thread)
        await call("views.open", ctx.client.views_open(trigger_id=body["trigger_id"], view=modal))

    @app.view(MERGE_MODAL_ID)
    async def on_merge_modal(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        values = view["state"]["values"]
        options = options_from_modal(ctx, values)
        if not options.prompt:
            await ack(response_action="errors", errors={"prompt": "Say what to make."})
            return
        try:
            roles = parse_assignments(str((values.get("roles", {}).get("roles") or {}).get("value") or ""))
        except InputError as exc:
            await ack(response_action="errors", errors={"roles": blocks.clip(exc.user_message, ERROR_TEXT_MAX)})
            return
        await ack()
        if not await first_interaction(ctx, body):
            return
        where = json.loads(view.get("private_metadata") or "{}")
        user = body["user"]
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
        channel, person, response_url = str(where["c"]), str(user["id"]), where.get("r")
        if where.get("f"):
            ctx.background.spawn(merge_from_here(ctx, team, channel, where, person, options, roles), "from here")
            return
        ctx.background.spawn(
            merge_thread(ctx, team, channel, str(where["t"]), person, options, response_url, roles), "shortcut"
        )

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        prompt = str(command.get("text") or "").strip()
        if not prompt or prompt.lower() in HELP_WORDS:
            await ack(text=help_text(ctx.settings.slack_rebalance_reactions), response_type="ephemeral")
            return
        await ack()
        if not await first_interaction(ctx, command):
            return
        if prompt.lower() == USAGE_WORD:
            work = answer_usage(
                ctx,
                str(command.get("team_id") or ""),
                str(command["channel_id"]),
                str(command["user_id"]),
                command.get("response_url"),
            )
            ctx.background.spawn(work, "usage")
            return
        ctx.background.spawn(
            merge_channel(
                ctx,
                str(command.get("team_id") or ""),
                str(command["channel_id"]),
                str(command["user_id"]),
                prompt,
                command.get("response_url"),
            ),
            "command",
        )
