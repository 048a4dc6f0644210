"""Pressing a control: the ``mb:<action>:<job>[:<arg>]`` buttons and the "More of…" select,
and the Edit prompt modal (``views.open`` pre-filled with the current prompt, then
``view_submission``). Controls carry only the custom id, so they work after a restart."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.controls import decode, encode
from bot.model import Action, ActionKind, Actor

from . import blocks
from .context import SlackContext
from .progress import StatusMessage
from .render import show_outcome
from .webapi import call

log = logging.getLogger(__name__)

EDIT_MODAL_ID = "mb_edit_prompt"
CONTROL_PATTERN = re.compile(r"^mb:")
PLAIN_INPUT_MAX = 3000


def action_of(pressed: dict[str, Any]) -> Action | None:
    """The core action behind a pressed button or a chosen select option."""
    if pressed.get("type") == "static_select":
        value = (pressed.get("selected_option") or {}).get("value")
        return decode(str(value)) if value else None
    return decode(str(pressed.get("action_id") or ""))


async def run_action(
    ctx: SlackContext,
    action: Action,
    actor: Actor,
    channel: str,
    thread_ts: str | None,
    *,
    prompt: str | None = None,
    trigger_id: str | None = None,
) -> None:
    """Apply ``action`` and show the outcome where the job lives (its thread), or where it was pressed."""
    parent = await ctx.service.job(action.job_id)
    if parent is not None and parent.origin.platform == "slack":
        channel, thread_ts = parent.origin.channel_id, parent.origin.thread_id
    status = StatusMessage(ctx, channel, thread_ts)
    if action.kind is ActionKind.EDIT_PROMPT and prompt is None:
        outcome = await ctx.service.act(action, actor)
        if outcome.needs_prompt and trigger_id is not None:
            modal = edit_modal(action, outcome.view.text, ctx.settings.limits.max_prompt_chars, channel, thread_ts)
            await call("views.open", ctx.client.views_open(trigger_id=trigger_id, view=modal))
            return
        await show_outcome(ctx, outcome, status, actor.user_id, private_refusal=True)
        return
    outcome = await ctx.service.act(action, actor, status.sink, prompt=prompt)
    await show_outcome(ctx, outcome, status, actor.user_id, private_refusal=True)


def edit_modal(
    action: Action, current_prompt: str, max_prompt_chars: int, channel: str, thread_ts: str | None
) -> dict[str, Any]:
    """The Edit prompt modal, pre-filled with the job's prompt; it remembers where to answer."""
    max_chars = min(PLAIN_INPUT_MAX, max_prompt_chars)
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL_ID,
        "title": blocks.plain("Edit prompt"),
        "submit": blocks.plain("Merge again"),
        "close": blocks.plain("Cancel"),
        "private_metadata": json.dumps({"a": encode(action), "c": channel, "t": thread_ts}),
        "blocks": [
            {
                "type": "input",
                "block_id": "prompt",
                "label": blocks.plain("Prompt"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "prompt",
                    "multiline": True,
                    "max_length": max_chars,
                    "initial_value": current_prompt[:max_chars],
                },
            }
        ],
    }


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Listen for control presses and Edit prompt submissions."""

    @app.action(CONTROL_PATTERN)
    async def on_control(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        pressed = (body.get("actions") or [{}])[0]
        action = action_of(pressed)
        if action is None:
            log.info("ignoring an unknown control %r", pressed.get("action_id"))
            return
        user = body["user"]
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
        container = body.get("container") or {}
        channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
        thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
        actor = await ctx.people.actor(team, str(user["id"]))
        trigger_id = body.get("trigger_id")
        ctx.background.spawn(
            run_action(ctx, action, actor, channel, thread_ts, trigger_id=trigger_id), f"control {action.kind}"
        )

    @app.view(EDIT_MODAL_ID)
    async def on_edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        value = (view["state"]["values"].get("prompt", {}).get("prompt") or {}).get("value")
        prompt = str(value or "").strip()
        if not prompt:
            await ack(response_action="errors", errors={"prompt": "Say what to make."})
            return
        await ack()
        metadata = json.loads(view.get("private_metadata") or "{}")
        action = decode(str(metadata.get("a") or ""))
        if action is None:
            return
        user = body["user"]
        team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
        actor = await ctx.people.actor(team, str(user["id"]))
        channel, thread_ts = str(metadata.get("c") or ""), metadata.get("t")
        ctx.background.spawn(run_action(ctx, action, actor, channel, thread_ts, prompt=prompt), "edit prompt")
