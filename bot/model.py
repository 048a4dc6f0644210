"""Platform-neutral types shared by the core and every adapter.

Adapters turn platform events into these (``Origin``, ``Actor``, ``ImageSource``,
``MergeRequest``, ``Action``) and render what comes back (``Progress``, ``View``).
Nothing here knows about Discord, Slack or OpenAI.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

# The weight range is the sheet layout's; the core re-exports it from here.
from compose.layout import MAX_WEIGHT as MAX_WEIGHT
from compose.layout import MIN_WEIGHT as MIN_WEIGHT
from compose.layout import clamp_weight as clamp_weight

# What a person chooses has no dependency (the command line's parser needs it first); re-exported here.
from .choices import Mode as Mode
from .choices import Role as Role
from .choices import Strength as Strength

STRENGTH_WEIGHTS: Mapping[Strength, float] = {
    Strength.LOW: 0.5,
    Strength.MEDIUM: 1.0,
    Strength.HIGH: 2.0,
    Strength.MAX: MAX_WEIGHT,
}


def strength_for(weight: float) -> Strength:
    """The named step nearest to ``weight`` on a log scale (More A's x1.5 from 1 reads as high)."""
    return min(STRENGTH_WEIGHTS, key=lambda step: abs(math.log(weight / STRENGTH_WEIGHTS[step])))


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the process died while it ran; retry makes a child
    DELETED = "deleted"


class ActionKind(StrEnum):
    """What a control does. The value is the word used in custom ids."""

    RETRY = "retry"
    REBALANCE = "more"
    EDIT_PROMPT = "edit"
    USE_AS_REFERENCE = "use"
    DETAILS = "details"
    DELETE = "delete"
    MERGE_ANYWAY = "anyway"  # run a merge the prompt-letter check stopped
    ROLES = "roles"
    REFINE = "refine"  # edit the result: change only what the person says (a marked copy limits it to a region)
    PICK = "pick"  # one variation of a grid posted on its own: no call, no cost
    VARY = "vary"  # a new merge with one variation of a grid as its first image


class Stage(StrEnum):
    QUEUED = "queued"
    FETCHING = "fetching"
    COMPOSING = "composing"
    GENERATING = "generating"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Origin:
    """Where a merge was asked for and by whom."""

    platform: str  # "discord", "slack", "cli"
    workspace_id: str  # guild id, team id, or "local"
    channel_id: str
    user_id: str
    thread_id: str | None = None
    user_name: str = ""


@dataclass(frozen=True)
class Actor:
    """Someone pressing a control or reacting."""

    platform: str
    workspace_id: str
    user_id: str
    is_moderator: bool = False  # Discord Manage Messages, Slack workspace admin
    user_name: str = ""  # how the chat shows them; names the requester of the jobs they start


@dataclass(frozen=True)
class ImageSource:
    """An image an adapter found in the chat, not downloaded yet.

    Either ``data`` is given (CLI, tests) or ``url`` is fetched by the core's safe
    fetcher with ``headers`` attached. Headers may carry platform credentials: they
    are never logged or stored. ``fallback_url`` is tried when ``url`` (a resized
    rendition) fails.
    """

    name: str
    url: str | None = None
    data: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    fallback_url: str | None = None
    caption: str = ""
    author: str = ""
    size_hint: int | None = None
    auth_hint: str = ""  # said when an HTML page comes back instead of an image
    message_id: str = ""  # the chat message that carried it: one caption (and label pin) per message
    content_type: str = ""  # as the platform declared it; a declared non-image file gets no letter
    label: str | None = None  # a letter the conversation already gave it (a part of a thread keeps its letters)

    @property
    def declared_not_image(self) -> bool:
        """Whether the platform says this file is not a picture (a PDF, a text file): no letter, no download."""
        return bool(self.content_type) and not self.content_type.lower().startswith("image/")

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImageSource needs exactly one of url or data")


@dataclass(frozen=True)
class Reference:
    """A gathered, normalised reference image, stored as a blob."""

    label: str
    digest: str  # blob digest of the normalised image
    width: int
    height: int
    byte_size: int
    weight: float = 1.0
    caption: str = ""
    author: str = ""
    source: str = ""  # file name or "result of job X"
    role: Role = Role.NONE

    @property
    def strength(self) -> Strength:
        return strength_for(self.weight)

    @property
    def included(self) -> bool:
        """False when the person left this reference out ("off")."""
        return self.role is not Role.OFF

    def with_weight(self, weight: float) -> Reference:
        return replace(self, weight=weight)


@dataclass(frozen=True)
class Refinement:
    """What a refine edits: ``base`` (the blob digest of the picture it changes, sent as image 1)
    and, for a region edit, ``mask`` (the blob digest of the images.edit mask PNG at the base's
    size, transparent where the edit may happen). The person's words are the job's prompt."""

    base: str
    mask: str | None = None


@dataclass(frozen=True)
class MergeOptions:
    """What the person asked the model for."""

    prompt: str
    mode: Mode = Mode.AUTO
    model: str = "gpt-image-2"
    size: str = "auto"  # "WxH" or "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"
    n: int = 1  # variations asked for in the one call (images.edit's n)
    input_fidelity: str | None = None
    lead: str | None = None  # the label of a reference sent first whatever its role (Vary's picked image)
    check_letters: bool = True  # stop before any call when the prompt names a letter with no reference
    refine: Refinement | None = None  # a refine of an earlier result: its picture goes first


@dataclass(frozen=True)
class EditSource:
    """A refine from files (the CLI): the picture to edit, sent as image 1 at its own size, and
    for a region edit a marked-up copy of it."""

    picture: ImageSource
    marked: ImageSource | None = None


@dataclass(frozen=True)
class MergeRequest:
    """A new merge from an adapter or the CLI (``edit``: a refine of a picture from files)."""

    origin: Origin
    sources: tuple[ImageSource, ...]
    options: MergeOptions
    weights: Mapping[str, float] = field(default_factory=dict)  # label -> weight
    start_later_hint: str = ""  # how to start from a later message here, said when images were left out
    skip_bad: bool = True  # False (the CLI without --skip-bad): an unusable file or too many stop the merge
    roles: Mapping[str, Role] = field(default_factory=dict)  # label -> role, over any caption's role word
    edit: EditSource | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    input_image_tokens: int = 0
    input_text_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Job:
    """One merge attempt. Children are made from parents by actions."""

    id: str
    origin: Origin
    options: MergeOptions
    references: tuple[Reference, ...]
    status: JobStatus = JobStatus.QUEUED
    parent_id: str | None = None
    action: str | None = None  # what made it from its parent, e.g. "retry", "more:B"
    sheet_digest: str | None = None
    sheet_boxes: Mapping[str, tuple[int, int, int, int]] = field(default_factory=dict)  # label -> x0, y0, x1, y1
    result_digests: tuple[str, ...] = ()
    usage: Usage | None = None
    cost_usd: float | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()
    created_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    timings: Mapping[str, float] = field(default_factory=dict)  # stage -> seconds
    messages: Mapping[str, str] = field(default_factory=dict)  # role -> platform message id

    def reference(self, label: str) -> Reference | None:
        return next((r for r in self.references if r.label == label), None)


@dataclass(frozen=True)
class Action:
    """A control pressed on a stored job."""

    kind: ActionKind
    job_id: str
    arg: str | None = None  # the label for REBALANCE, the variation's number (from 1) for PICK and VARY


@dataclass(frozen=True)
class Progress:
    """A step of a running merge, for the status message."""

    stage: Stage
    job_id: str
    text: str
    queue_position: int | None = None
    image: bytes | None = None  # the reference sheet or a partial preview
    image_name: str | None = None
    partial_index: int | None = None


ProgressSink = Callable[[Progress], Awaitable[None]]


async def ignore_progress(_: Progress) -> None:
    """A progress sink that drops every update."""


@dataclass(frozen=True)
class Control:
    """A button (or reaction) an adapter renders for a job."""

    kind: ActionKind
    job_id: str
    label: str
    arg: str | None = None
    emoji: str | None = None
    style: str = "secondary"  # "primary", "secondary", "danger"


@dataclass(frozen=True)
class View:
    """What an adapter shows: text, an optional image, and controls."""

    text: str
    image: bytes | None = None
    image_name: str | None = None
    controls: tuple[Control, ...] = ()
    ephemeral: bool = False


@dataclass(frozen=True)
class Outcome:
    """What the core answers to a merge or an action.

    ``ok`` is False when the view explains a refusal or failure. ``deleted`` asks
    the adapter to remove the job's messages (their ids are in ``job.messages``).
    ``needs_prompt`` asks the adapter to collect new prompt text (Edit prompt); ``needs_roles``
    asks it for a Roles form pre-filled with ``view.text`` (the roles text of ``bot.roles``).
    ``error`` is the failure behind a refusal, for callers that branch on its type
    (the CLI's exit codes); adapters show ``view``. ``elsewhere`` says another replica took the
    job from the queue: it shows the job's progress and outcome in the job's status message, so
    the adapter that received the request shows nothing more.
    """

    view: View
    job: Job | None = None
    ok: bool = True
    deleted: bool = False
    needs_prompt: bool = False
    needs_roles: bool = False
    elsewhere: bool = False
    error: Exception | None = None
