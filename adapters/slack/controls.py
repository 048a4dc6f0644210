"""Pressing a control: the ``mb:<action>:<job>[:<arg>]`` buttons and the "More of…" select,
and the prompt modal of Edit prompt and Use as reference (``views.open`` pre-filled with the
current prompt, then ``view_submission``; nothing runs before it is submitted). Controls
carry only the custom id, so they work after a restart. The Roles modal has a role and a
strength select per reference, and a reset choice."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.controls import decode, encode
from bot.model import Action, ActionKind, Actor, Outcome, Role, Strength
from bot.roles import parse_assignments
from bot.views import next_reference_label

from . import blocks
from .context import SlackContext
from .dedupe import first_interaction
from .emoji import reactions_help
from .progress import StatusMessage
from .render import ACTION_CRASHED, MERGE_CRASHED, ephemeral, show_outcome
from .webapi import call

log = logging.getLogger(__name__)

EDIT_MODAL_ID = "mb_edit_prompt"
ROLES_MODAL_ID = "mb_roles"
RESET_ID = "reset"
KEEP, RESET = "keep", "reset"
ROLE_LABELS = {
    Role.NONE: "plain reference",
    Role.SUBJECT: "subject: keep its identity",
    Role.STYLE: "style: only its look",
    Role.SCENE: "scene: its setting",
    Role.OBJECT: "object: include it as it is",
    Role.OFF: "off: leave it out",
}
CONTROL_PATTERN = re.compile(r"^mb:")
PLAIN_INPUT_MAX = 3000
MODAL_TITLE_MAX = 24  # Slack's limit for a modal's title
PROMPTED_ACTIONS = frozenset({ActionKind.EDIT_PROMPT, ActionKind.USE_AS_REFERENCE, ActionKind.REFINE})
REFINE_QUESTION = "What should change?"


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
    roles: str | None = None,
    trigger_id: str | None = None,
) -> None:
    """Apply ``action`` and show the outcome where the job lives (its thread), or where it was pressed."""
    status = StatusMessage(ctx, channel, thread_ts)
    try:
        outcome = await _act(ctx, action, actor, status, prompt, roles, trigger_id)
    except Exception:
        log.exception("%s on %s failed unexpectedly", action.kind.value, action.job_id)
        await status.settle()
        if status.ts is None:
            await ephemeral(ctx, status.channel, actor.user_id, status.thread_ts, ACTION_CRASHED)
        else:
            await status.finish(f"⚠️ {MERGE_CRASHED}")
        return
    if outcome is None:
        return
    if action.kind is ActionKind.DETAILS and outcome.ok:
        extra = reactions_help(ctx.settings.slack_rebalance_reactions)
        outcome = replace(outcome, view=replace(outcome.view, text=f"{outcome.view.text}\n{extra}"))
    await show_outcome(ctx, outcome, status, actor.user_id, private_refusal=True)


async def _act(
    ctx: SlackContext,
    action: Action,
    actor: Actor,
    status: StatusMessage,
    prompt: str | None,
    roles: str | None,
    trigger_id: str | None,
) -> Outcome | None:
    """The core's answer to ``action``, or None when the Edit prompt or Roles modal was opened instead.
    A child job is posted in its parent's thread, requested by the person who pressed."""
    parent = await ctx.service.job(action.job_id)
    origin = None
    if parent is not None and parent.origin.platform == "slack":
        status.channel, status.thread_ts = parent.origin.channel_id, parent.origin.thread_id
        name = (await ctx.people.get(actor.user_id)).name
        origin = replace(parent.origin, user_id=actor.user_id, user_name=name)
    if action.kind in PROMPTED_ACTIONS and prompt is None:
        outcome = await ctx.service.act(action, actor)
        if outcome.needs_prompt and outcome.job is not None and trigger_id is not None:
            max_chars = ctx.settings.limits.max_prompt_chars
            title, field, submit = "Edit prompt", "Prompt", "Merge again"
            if action.kind is ActionKind.REFINE:
                title, field, submit = "Refine this result", REFINE_QUESTION, "Refine"
            if action.kind is ActionKind.USE_AS_REFERENCE:
                label = next_reference_label(outcome.job)
                title, field = f"Use this result as {label}", f"Prompt for the next merge (this result is {label})"
            modal = edit_modal(
                action,
                outcome.view.text,
                max_chars,
                status.channel,
                status.thread_ts,
                title=title,
                field=field,
                submit=submit,
            )
            await call("views.open", ctx.client.views_open(trigger_id=trigger_id, view=modal))
            return None
        return outcome
    if action.kind is ActionKind.ROLES and roles is None:
        outcome = await ctx.service.act(action, actor)
        if outcome.needs_roles and trigger_id is not None:
            modal = roles_modal(action, outcome.view.text, status.channel, status.thread_ts)
            await call("views.open", ctx.client.views_open(trigger_id=trigger_id, view=modal))
            return None
        return outcome
    return await ctx.service.act(action, actor, status.sink, prompt=prompt, roles=roles, origin=origin)


async def pressed_by(
    ctx: SlackContext, action: Action, body: dict[str, Any], *, prompt: str | None = None, roles: str | None = None
) -> None:
    """Run ``action`` for the person in an interaction payload (a button press or a modal)."""
    user = body["user"]
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    actor = await ctx.people.actor(team, str(user["id"]))
    if prompt is not None or roles is not None:
        metadata = json.loads(body["view"].get("private_metadata") or "{}")
        channel, thread_ts = str(metadata.get("c") or ""), metadata.get("t")
        await run_action(ctx, action, actor, channel, thread_ts, prompt=prompt, roles=roles)
        return
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id") or "")
    thread_ts = container.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    await run_action(ctx, action, actor, channel, thread_ts, trigger_id=body.get("trigger_id"))


def edit_modal(
    action: Action,
    current_prompt: str,
    max_prompt_chars: int,
    channel: str,
    thread_ts: str | None,
    *,
    title: str = "Edit prompt",
    field: str = "Prompt",
    submit: str = "Merge again",
) -> dict[str, Any]:
    """The prompt modal (Edit prompt, Use as reference, Refine), pre-filled with the job's prompt
    (Refine starts empty); it remembers the action and where to answer."""
    max_chars = min(PLAIN_INPUT_MAX, max_prompt_chars)
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "prompt", "multiline": True}
    element["max_length"] = max_chars
    if current_prompt:
        element["initial_value"] = current_prompt[:max_chars]
    return {
        "type": "modal",
        "callback_id": EDIT_MODAL_ID,
        "title": blocks.plain(title, MODAL_TITLE_MAX),
        "submit": blocks.plain(submit),
        "close": blocks.plain("Cancel"),
        "private_metadata": json.dumps({"a": encode(action), "c": channel, "t": thread_ts}),
        "blocks": [{"type": "input", "block_id": "prompt", "label": blocks.plain(field, 2000), "element": element}],
    }


def _static_select(action_id: str, choices: list[tuple[str, str]], initial: str) -> dict[str, Any]:
    options = [{"text": blocks.plain(text), "value": value} for value, text in choices]
    return {
        "type": "static_select",
        "action_id": action_id,
        "options": options,
        "initial_option": next((o for o in options if o["value"] == initial), options[0]),
    }


def roles_modal(action: Action, current: str, channel: str, thread_ts: str | None) -> dict[str, Any]:
    """The Roles modal: a role and a strength select per reference, pre-set from ``current`` (the
    roles text ``bot.roles.describe_assignments`` wrote), and a choice to reset them all."""
    assignments = parse_assignments(current).by_label
    role_choices = [(role.value, ROLE_LABELS[role]) for role in Role]
    strength_choices = [(strength.value, strength.value) for strength in Strength]
    fields: list[dict[str, Any]] = [
        {
            "type": "input",
            "block_id": RESET_ID,
            "label": blocks.plain("Apply"),
            "element": _static_select(
                RESET_ID, [(KEEP, "the choices below"), (RESET, "reset: every reference plain, medium")], KEEP
            ),
        }
    ]
    for label, given in assignments.items():
        role = (given.role or Role.NONE).value
        strength = (given.strength or Strength.MEDIUM).value
        fields.append(
            {
                "type": "input",
                "block_id": f"role-{label}",
                "label": blocks.plain(f"{label}: role"),
                "element": _static_select(f"role-{label}", role_choices, role),
            }
        )
        fields.append(
            {
                "type": "input",
                "block_id": f"strength-{label}",
                "label": blocks.plain(f"{label}: strength"),
                "element": _static_select(f"strength-{label}", strength_choices, strength),
            }
        )
    return {
        "type": "modal",
        "callback_id": ROLES_MODAL_ID,
        "title": blocks.plain("Roles and strengths"),
        "submit": blocks.plain("Merge again"),
        "close": blocks.plain("Cancel"),
        "private_metadata": json.dumps({"a": encode(action), "c": channel, "t": thread_ts}),
        "blocks": fields,
    }


def roles_from_modal(values: dict[str, Any]) -> str:
    """The roles text (``A=subject:high B=off:medium``, or ``reset``) of a submitted Roles modal."""

    def chosen(block_id: str) -> str:
        option = (values.get(block_id, {}).get(block_id) or {}).get("selected_option") or {}
        return str(option.get("value") or "")

    if chosen(RESET_ID) == RESET:
        return RESET
    labels = [block_id.removeprefix("role-") for block_id in values if block_id.startswith("role-")]
    return " ".join(f"{label}={chosen(f'role-{label}')}:{chosen(f'strength-{label}')}" for label in labels)


def register(app: AsyncApp, ctx: SlackContext) -> None:
    """Listen for control presses and Edit prompt submissions."""

    @app.action(CONTROL_PATTERN)
    async def on_control(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        if not await first_interaction(ctx, body):
            return
        pressed = (body.get("actions") or [{}])[0]
        action = action_of(pressed)
        if action is None:
            log.info("ignoring an unknown control %r", pressed.get("action_id"))
            return
        ctx.background.spawn(pressed_by(ctx, action, body), f"control {action.kind.value}")

    @app.view(EDIT_MODAL_ID)
    async def on_edit(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body["view"]
        value = (view["state"]["values"].get("prompt", {}).get("prompt") or {}).get("value")
        prompt = str(value or "").strip()
        if not prompt:
            await ack(response_action="errors", errors={"prompt": "Say what to make."})
            return
        await ack()
        if not await first_interaction(ctx, body):
            return
        metadata = json.loads(view.get("private_metadata") or "{}")
        action = decode(str(metadata.get("a") or ""))
        if action is None:
            return
        ctx.background.spawn(pressed_by(ctx, action, body, prompt=prompt), "edit prompt")

    @app.view(ROLES_MODAL_ID)
    async def on_roles(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        view = body["view"]
        metadata = json.loads(view.get("private_metadata") or "{}")
        action = decode(str(metadata.get("a") or ""))
        if action is None or action.kind is not ActionKind.ROLES:
            return
        roles = roles_from_modal(view["state"]["values"])
        ctx.background.spawn(pressed_by(ctx, action, body, roles=roles), "roles")
