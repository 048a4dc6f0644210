"""Neutral views of jobs: the text, image and controls each adapter renders its own way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from .capabilities import wanted_input_fidelity
from .controls import DELETE_CONFIRMED
from .errors import ContentBlocked, MergebotError, MissingReference
from .labels import next_label
from .model import ActionKind, Control, Job, JobStatus, Reference, Role, View
from .modes import choose_mode
from .roles import role_tag

REGIONAL_INDICATOR_A = 0x1F1E6
REWORD_HINT = "Press Edit prompt to reword it, or Retry to try the same again."


def letter_emoji(label: str) -> str | None:
    """The regional indicator emoji for a one-letter label (🇦 for A), else None."""
    if len(label) == 1 and "A" <= label <= "Z":
        return chr(REGIONAL_INDICATOR_A + ord(label) - ord("A"))
    return None


def label_for_emoji(emoji: str) -> str | None:
    """The label a regional indicator emoji stands for (🇧 -> B), else None."""
    if len(emoji) == 1 and REGIONAL_INDICATOR_A <= ord(emoji) < REGIONAL_INDICATOR_A + 26:
        return chr(ord("A") + ord(emoji) - REGIONAL_INDICATOR_A)
    return None


def result_controls(job: Job) -> tuple[Control, ...]:
    """Retry, More <label> for each reference in the merge, Roles…, Refine…, Edit prompt, Use as
    reference, Details, Delete."""
    controls = [Control(ActionKind.RETRY, job.id, "Retry", emoji="🔁", style="primary")]
    controls += [
        Control(ActionKind.REBALANCE, job.id, f"More {ref.label}", arg=ref.label, emoji=letter_emoji(ref.label))
        for ref in job.references
        if ref.included
    ]
    controls.append(Control(ActionKind.ROLES, job.id, "Roles…", emoji="🎭"))
    controls.append(Control(ActionKind.REFINE, job.id, "Refine…", emoji="🪄"))
    controls += [
        Control(ActionKind.EDIT_PROMPT, job.id, "Edit prompt", emoji="✏️"),
        Control(ActionKind.USE_AS_REFERENCE, job.id, "Use as reference", emoji="📌"),
        Control(ActionKind.DETAILS, job.id, "Details", emoji="ℹ️"),
        Control(ActionKind.DELETE, job.id, "Delete", emoji="🗑️", style="danger"),
    ]
    return tuple(controls)


def variations_controls(job: Job) -> tuple[Control, ...]:
    """Pick 1…N and Vary 1…N for a grid of variations, then Retry, Edit prompt, Details, Delete.
    A picked variation has every other control (More X, Roles…, Use as reference)."""
    numbers = range(1, len(job.result_digests) + 1)
    return (
        *(Control(ActionKind.PICK, job.id, f"Pick {n}", arg=str(n), style="primary") for n in numbers),
        *(Control(ActionKind.VARY, job.id, f"Vary {n}", arg=str(n)) for n in numbers),
        Control(ActionKind.RETRY, job.id, "Retry", emoji="🔁"),
        Control(ActionKind.EDIT_PROMPT, job.id, "Edit prompt", emoji="✏️"),
        Control(ActionKind.DETAILS, job.id, "Details", emoji="ℹ️"),
        Control(ActionKind.DELETE, job.id, "Delete", emoji="🗑️", style="danger"),
    )


def failure_controls(job: Job) -> tuple[Control, ...]:
    """Retry, Edit prompt and Details: what a person can do about any failed merge."""
    return (
        Control(ActionKind.RETRY, job.id, "Retry", emoji="🔁", style="primary"),
        Control(ActionKind.EDIT_PROMPT, job.id, "Edit prompt", emoji="✏️"),
        Control(ActionKind.DETAILS, job.id, "Details", emoji="ℹ️"),
    )


def letter_check_controls(job: Job) -> tuple[Control, ...]:
    """Merge anyway and Edit prompt, for a merge stopped because its prompt names a missing letter."""
    return (
        Control(ActionKind.MERGE_ANYWAY, job.id, "Merge anyway", emoji="▶️", style="primary"),
        Control(ActionKind.EDIT_PROMPT, job.id, "Edit prompt", emoji="✏️"),
    )


def describe_references(references: tuple[Reference, ...]) -> str:
    """ "A, B, C", or with roles and strengths "A (subject), B (high), C (style · low)"; off ones left out."""
    return ", ".join(
        f"{ref.label} ({role_tag(ref)})" if role_tag(ref) else ref.label for ref in references if ref.included
    )


def warnings_text(warnings: tuple[str, ...]) -> str:
    return "".join(f"\n{warning}" for warning in warnings)


def requester(job: Job) -> str:
    """Who asked for a job, as the chat shows them (their name, else their id)."""
    return job.origin.user_name or job.origin.user_id


def _result_text(job: Job) -> str:
    text = f"Merged {describe_references(job.references)}: “{_clip(job.options.prompt, 300)}”"
    if job.parent_id and job.action:
        text += f" ({_action_words(job.action)})"
    return text + f" · asked by {requester(job)}"


def result_view(job: Job, image: bytes, extension: str) -> View:
    text = _result_text(job) + warnings_text(job.warnings)
    return View(text=text, image=image, image_name=f"mergebot-{job.id}.{extension}", controls=result_controls(job))


def variations_view(job: Job, grid: bytes, extension: str) -> View:
    """A merge's variations as one numbered grid picture, with Pick N and Vary N."""
    count = len(job.result_digests)
    text = (
        _result_text(job)
        + f"\n{count} variations: Pick one to keep it (no new call), or Vary one to make {job.options.n} more from it."
        + warnings_text(job.warnings)
    )
    return View(
        text=text, image=grid, image_name=f"mergebot-{job.id}-grid.{extension}", controls=variations_controls(job)
    )


def failure_view(error: MergebotError, job: Job | None) -> View:
    """Why a merge failed. A job that gathered its references keeps Retry and Edit prompt
    whatever the failure (a refusal before any job existed has nothing to retry)."""
    text = error.user_message
    if job is None:
        return View(text=text)
    text = f"{text}{warnings_text(job.warnings)}\nAsked by {requester(job)}."
    if not job.references:
        return View(text=text)
    if isinstance(error, MissingReference):
        return View(text=text, controls=letter_check_controls(job))
    if isinstance(error, ContentBlocked):
        text += f"\n{REWORD_HINT}"
    return View(text=text, controls=failure_controls(job))


def delete_confirmation(job: Job) -> View:
    """A private question before a Delete button removes anything."""
    return View(
        text=f"Delete the merge “{_clip(job.options.prompt, 100)}” and the messages it posted? This cannot be undone.",
        controls=(
            Control(ActionKind.DELETE, job.id, "Yes, delete it", arg=DELETE_CONFIRMED, emoji="🗑️", style="danger"),
        ),
        ephemeral=True,
    )


def next_reference_label(job: Job) -> str:
    """The label a job's result takes when it is used as a reference of the next merge."""
    return next_label(ref.label for ref in job.references)


def reference_prompt(job: Job) -> View:
    """What Use as reference asks before it runs: the next prompt, pre-filled with this one."""
    return View(text=job.options.prompt, ephemeral=True)


def notice(text: str) -> View:
    """A private answer to the person who pressed a control."""
    return View(text=text, ephemeral=True)


def details_view(job: Job, lineage: Sequence[Job] = ()) -> View:
    """Everything about a job, privately; ``lineage`` (the job's ancestors, oldest first, then
    the job) gives the cost of each call that led to it."""
    options = job.options
    lines = [
        f"Merge {job.id} · {job.status.value}",
        f"Prompt: {options.prompt}",
        f"Model: {options.model} · mode {_mode_words(job)} · size {options.size} · quality {options.quality}",
        "References: " + "; ".join(_reference_words(ref) for ref in job.references),
    ]
    if job.parent_id:
        lines.append(f"From: {job.parent_id} ({_action_words(job.action or '')})")
    if options.refine is not None:
        where = "only within the marked area (a mask)" if options.refine.mask else "changing only what was asked"
        lines.append(f"Refine: the previous result sent as image 1, {where}")
    if job.timings:
        lines.append("Timings: " + ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in job.timings.items()))
    if job.usage is not None:
        usage = job.usage
        lines.append(
            f"Tokens: {usage.input_tokens} in ({usage.input_image_tokens} image, {usage.input_text_tokens} text), "
            f"{usage.output_tokens} out"
        )
    if job.cost_usd is not None:
        lines.append(f"Estimated cost: {_call_cost(job)}")
    calls = [f"{ancestor.id} {_call_cost(ancestor)}" for ancestor in lineage if ancestor.cost_usd is not None]
    if len(calls) > 1:
        lines.append("Each call: " + "; ".join(calls))
    if job.error and job.status in (JobStatus.FAILED, JobStatus.INTERRUPTED):
        lines.append(f"Error: {job.error}")
    lines.append(f"Requested by {job.origin.user_name or job.origin.user_id} at {_when(job.created_at)}")
    return notice("\n".join(lines))


def _call_cost(job: Job) -> str:
    """ "$0.2100 for 4 images ($0.0525 each)", or what a Pick cost: nothing, no call was made."""
    if job.action and job.action.startswith("pick:"):
        return "$0 (picked from a stored variation, no call)"
    images = len(job.result_digests)
    if images < 2 or job.cost_usd is None:
        return f"${job.cost_usd or 0:.4f}"
    return f"${job.cost_usd:.4f} for {images} images (${job.cost_usd / images:.4f} each)"


def _mode_words(job: Job) -> str:
    """ "auto → separate, 3 images", with the reason when auto fell back to the sheet."""
    try:
        choice = choose_mode(job.options.mode, job.options.model, job.references, lead=job.options.lead)
    except MergebotError:
        return job.options.mode.value
    fidelity = wanted_input_fidelity(job.options, choice.panels)
    words = choice.summary() + (f" ({choice.note})" if choice.note else "")
    return words + (f" · input fidelity {fidelity}" if fidelity else "")


def _reference_words(ref: Reference) -> str:
    """ "A (subject, high, my cat)"; "B (off)" for one left out."""
    parts = [ref.role.value if ref.role is not Role.NONE else "plain", ref.strength.value]
    if ref.role is Role.OFF:
        parts = ["off"]
    if ref.caption:
        parts.append(_clip(ref.caption, 60))
    return f"{ref.label} ({', '.join(parts)})"


def _action_words(action: str) -> str:
    kind, _, arg = action.partition(":")
    return {
        "retry": "retry",
        "more": f"more {arg}",
        "edit": "edited prompt",
        "use": f"previous result as {arg}",
        "anyway": "merged anyway",
        "roles": "roles changed",
        "refine": "refined",
        "region": "marked area edited",
        "pick": f"variation {arg}",
        "vary": f"more like variation {arg}",
    }.get(kind, kind)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _when(epoch: float) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%d %H:%M} UTC"
