"""A mention in a thread that already has a result: a Refine of it, or a region edit, or a new merge.

The rule, said in every reply it applies to (and in the README):

- a mention with text and no new images since the thread's latest result refines that result;
- a mention carrying one image (a copy of the result with the area to change drawn on it) and no
  other new images edits only the marked area;
- new images posted in the thread since the latest result start a new merge, as in a thread with
  no result.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from bot.model import Action, ActionKind, ImageSource, Job, JobStatus

from .context import SlackContext
from .gather import from_bot, images_in
from .progress import StatusMessage
from .render import MERGE_CRASHED, show_outcome
from .webapi import message_key

log = logging.getLogger(__name__)

REFINE_RULE = (
    "(A mention with no new images refines the latest result here; post new images to start a new merge, "
    "or a marked copy of the result with the mention to change only the marked area.)"
)
REGION_RULE = (
    "(A mention carrying one marked-up copy of the latest result edits only the marked area; "
    "a mention with no new images refines the whole result. To merge a new image instead, post it, "
    "then mention me without one.)"
)
NEW_MERGE_RULE = (
    "(New images were posted since the latest result here, so this is a new merge; "
    "a mention with no new images refines the latest result.)"
)


async def latest_result(
    ctx: SlackContext, channel: str, messages: Sequence[Mapping[str, Any]]
) -> tuple[Job, float] | None:
    """The thread's latest merge that has a result, and the ts of its newest message in the thread."""
    for message in reversed(messages):
        if not from_bot(ctx, message):
            continue
        ts = str(message.get("ts") or "")
        job = await ctx.service.job_for_message("slack", message_key(channel, ts))
        if job is None:
            continue
        if job.status is JobStatus.SUCCEEDED and job.result_digests:
            return job, float(ts)
        return None  # the latest merge here has no result (failed, running or deleted): a new merge
    return None


async def refine_if_the_rule_says(
    ctx: SlackContext,
    team: str,
    user: str,
    prompt: str,
    event: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    status: StatusMessage,
) -> str | None:
    """Refine (or region-edit) the thread's latest result when the mention's rule says so (``""``),
    in ``status`` (the mention's status message); otherwise the note a new merge's reply carries (the
    rule that applied), or None when there is no result in the thread. ``messages`` are the thread's."""
    found = await latest_result(ctx, status.channel, messages)
    if found is None:
        return None
    job, since = found
    mention_ts = str(event.get("ts") or "")
    later = [m for m in messages if float(m.get("ts") or 0) > since and str(m.get("ts")) != mention_ts]
    new = (await images_in(ctx, [*later, event])).sources
    if not new:
        await _refine(ctx, team, job, user, prompt, None, REFINE_RULE, status)
        return ""
    if len(new) == 1 and new[0].message_id == mention_ts:
        await _refine(ctx, team, job, user, prompt, new[0], REGION_RULE, status)
        return ""
    return NEW_MERGE_RULE


async def _refine(
    ctx: SlackContext,
    team: str,
    job: Job,
    user: str,
    prompt: str,
    marked: ImageSource | None,
    rule: str,
    status: StatusMessage,
) -> None:
    try:
        actor = await ctx.people.actor(team, user)
        person = await ctx.people.get(user)
        origin = replace(job.origin, user_id=user, user_name=person.name)
        action = Action(ActionKind.REFINE, job.id)
        outcome = await ctx.service.act(action, actor, status.sink, prompt=prompt, origin=origin, marked=marked)
    except Exception:
        log.exception("refine of %s from a mention failed unexpectedly", job.id)
        await status.settle()
        await status.finish(f"⚠️ {MERGE_CRASHED}")
        return
    await show_outcome(ctx, outcome, status, user, f"\n{rule}")
