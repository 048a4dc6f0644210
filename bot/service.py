"""The merge service: the one entry point adapters and the CLI call.

``merge`` runs a new request through gather, compose, generate and store;
``act`` applies a control to a stored job, usually by running a child job.
Neither raises for anything a person caused: they answer with an ``Outcome``
whose view says what happened.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from compose import ComposeError, compose_grid, fit_to_bytes, normalize

from .capabilities import caps_for, check_request
from .controls import DELETE_CONFIRMED
from .errors import (
    ImageRejected,
    InputError,
    JobNotFound,
    LimitExceeded,
    MergebotError,
    MissingReference,
    PermissionDenied,
    PromptTooLong,
    ShuttingDown,
)
from .estimates import RecentDurations, generating_text
from .fetch import Fetcher
from .gather import REFERENCE_MAX_SIDE, check_count, gather
from .health import Check, Health, storage_checks
from .imagework import normalize_upload, run_image_work
from .labels import missing_from, missing_message, next_label, skipped_line, span, unusable_named
from .limits import Limiter
from .model import (
    MAX_WEIGHT,
    Action,
    ActionKind,
    Actor,
    EditSource,
    ImageSource,
    Job,
    JobStatus,
    MergeOptions,
    MergeRequest,
    Mode,
    Origin,
    Outcome,
    Progress,
    ProgressSink,
    Reference,
    Refinement,
    Stage,
    View,
    clamp_weight,
    ignore_progress,
)
from .modes import choose_mode, expected_image_count, sends_sheet_only
from .plan import Prepared, extension, prepare, small_notes
from .pricing import estimate_cost, estimate_request_cost
from .refine import check_picture, marked_mask
from .roles import apply_assignments, check_request_labels, describe_assignments, parse_assignments
from .settings import MAX_VARIATIONS, Settings
from .shutdown import Drain, Released
from .sniff import sniff
from .storage_faults import StorageAlarm
from .store import (
    INTERRUPTED_WHILE_GATHERING,
    INTERRUPTED_WHILE_QUEUED,
    UNSHOWN_STATUSES,
    Caps,
    Claimed,
    JobStore,
    open_store,
)
from .turns import GatherTurns
from .usage import usage_view
from .variations import VARIATION_CAPTION, picked, variation_number, with_variation_first
from .views import (
    delete_confirmation,
    details_view,
    failure_controls,
    failure_view,
    notice,
    reference_prompt,
    result_view,
    variations_view,
)
from .worker import WORKER_FAILED, Resumer, Worker

if TYPE_CHECKING:
    from compose import Normalized

    from .blobs import Blobs
    from .generate import EditArea, Generated, InputImage, PartialSink

log = logging.getLogger(__name__)

RESTARTING = "mergebot is restarting, so it is not starting new merges. Ask again in a minute."
WAITING_AT_STOP = (
    "mergebot is restarting before this merge's turn came, so it has not started and nothing was spent yet. "
    "It stays in line and starts by itself when mergebot is back."
)

NOT_STARTED_AT_STOP = (
    "mergebot is restarting before this merge could fetch its images, so it did not start and nothing was "
    "spent. Ask again in a minute."
)
WAITING_TO_GATHER = "Waiting for my turn to fetch the images…"

UNPRICED_MODEL = "unpriced_model"  # the LimitExceeded.limit of a model the cost cap cannot count
RESUMED_PREFIX = "Resumed after a restart. "
RUNNING_ELSEWHERE = "This merge is running; its progress and result are shown in its status message."
DELETED_BEFORE_ITS_TURN = "That merge was deleted before its turn came, so nothing was made or charged."
STILL_RUNNING = (
    "This merge is still running, here or on another replica; its result will show in its status message. "
    "Press again once it has finished."
)
# What may be done to a merge that is still running: read it, or delete it (through the store).
WHILE_RUNNING = (ActionKind.DETAILS, ActionKind.DELETE)
REBALANCE_FACTOR = 1.5
PRUNE_EVERY = 20
LINEAGE_SHOWN = 10  # calls Details lists the cost of


def new_job_id() -> str:
    return secrets.token_hex(5)


def rebalanced(references: Sequence[Reference], label: str) -> tuple[Reference, ...]:
    """Give ``label`` more weight; once it is at the ceiling, give the others less."""
    target = next(ref for ref in references if ref.label == label)
    if target.weight * REBALANCE_FACTOR <= MAX_WEIGHT:
        return tuple(
            ref.with_weight(clamp_weight(ref.weight * REBALANCE_FACTOR)) if ref.label == label else ref
            for ref in references
        )
    return tuple(
        ref if ref.label == label else ref.with_weight(clamp_weight(ref.weight / REBALANCE_FACTOR))
        for ref in references
    )


class ImageGenerator(Protocol):
    """What the service needs from an image model: ``bot.generate.Generator``, or the dry run's."""

    async def generate(
        self,
        images: Sequence[InputImage],
        prompt: str,
        options: MergeOptions,
        on_partial: PartialSink | None = None,
        *,
        person: Origin | None = None,  # who asked: sent as a salted safety_identifier
        area: EditArea | None = None,  # a region edit's mask or markup for image 1
    ) -> Generated: ...

    async def aclose(self) -> None: ...


class _Reporter:
    """Sends progress to the adapter's sink; a failing sink never fails the merge.

    A resumed job's updates say so, so the person knows why it took longer."""

    def __init__(self, sink: ProgressSink, job_id: str, *, resumed: bool = False) -> None:
        self._sink = sink
        self._job_id = job_id
        self._prefix = RESUMED_PREFIX if resumed else ""

    async def __call__(self, stage: Stage, text: str, **extra: object) -> None:
        if stage not in (Stage.DONE, Stage.FAILED):
            text = self._prefix + text
        try:
            await self._sink(Progress(stage, self._job_id, text, **extra))  # type: ignore[arg-type]
        except Exception:
            log.exception("progress sink failed for job %s", self._job_id)


class MergeService:
    """Runs merges and actions on stored jobs. Create with ``await MergeService.open(settings)``."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        blobs: Blobs,
        fetcher: Fetcher,
        generator: ImageGenerator | None = None,
        *,
        keep_references: bool = True,
    ) -> None:
        self.settings = settings
        self._keep_references = keep_references
        self._store = store
        self._blobs = blobs
        self._fetcher = fetcher
        self._limiter = Limiter(settings.limits, store)
        caps = Caps(settings.limits.global_concurrency, settings.limits.per_user_concurrency)
        self._worker = Worker(
            store, caps, self._run_claimed, runs_jobs=settings.role.runs_jobs, lease_s=settings.limits.lease_s
        )
        self._generator: ImageGenerator | None = generator
        self._finished_since_prune = 0
        self.health = Health()
        self.drain = Drain()
        self._storage = StorageAlarm()
        self._durations = RecentDurations()
        self._stale: list[Job] = []  # too old to resume, waiting for their platform to be told
        self._tasks: set[asyncio.Task[None]] = set()
        self._downloads: dict[str, _Downloads] = {}  # by job id, from gathering until its run ends
        self._gathering = GatherTurns()

    @classmethod
    async def open(
        cls, settings: Settings, *, generator: ImageGenerator | None = None, keep_references: bool = True
    ) -> MergeService:
        """The service on the settings' store; ``generator`` replaces the OpenAI one (the CLI's
        ``--dry-run`` passes one that checks everything and calls nothing, and ``keep_references=False``:
        its store is thrown away, so nothing is kept of a reference the request does not need)."""
        from .blobs import open_blobs

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = await open_store(settings)
        blobs = open_blobs(settings)
        service = cls(settings, store, blobs, Fetcher(settings), generator, keep_references=keep_references)
        await service.start()
        return service

    async def start(self) -> None:
        """Start running queued jobs; first tell the people whose jobs waited too long to resume."""
        too_old = time.time() - self.settings.limits.resume_within_s
        for job in await self._store.expire_unclaimed(too_old, time.time()):
            log.info("job %s waited too long to resume; its person can press Retry", job.id)
            self._stale.append(job)
        self._worker.start()

    def deliver_for(self, platform: str, resumer: Resumer) -> None:
        """Let this process run ``platform``'s jobs nobody here waits for (resumed after a restart,
        or enqueued by another process); ``resumer`` gives where each one shows its progress and outcome.
        Jobs of that platform that waited too long to resume are told to it now."""
        self._worker.deliver_for(platform, resumer)
        stale = [job for job in self._stale if job.origin.platform == platform]
        self._stale = [job for job in self._stale if job.origin.platform != platform]
        for job in stale:
            self._background(self._tell_expired(job, resumer))

    def stop(self) -> int:
        """Begin a clean stop: claim no new jobs, refuse new merges and release the waiting ones
        (told; their jobs stay queued and resume at the next start); how many were released."""
        self._worker.stop_claiming()
        return self.drain.begin()

    @property
    def running(self) -> int:
        """Merges of this process still going: callers waiting for theirs, and resumed jobs."""
        return self.drain.in_progress + self._worker.running

    async def settle(self, grace_s: float) -> int:
        """Wait up to ``grace_s`` for running merges and the posting of their outcomes; how many
        were still going. Those left when the service closes resume at the next start."""
        deadline = time.monotonic() + grace_s
        left = await self.drain.settle(grace_s)
        finished = await self._worker.drain(max(0.0, deadline - time.monotonic()))
        return left if finished else max(left, self._worker.running)

    async def _tell_expired(self, job: Job, resumer: Resumer) -> None:
        try:
            delivery = await resumer(job)
            view = View(text=job.error or INTERRUPTED_WHILE_QUEUED, controls=failure_controls(job))
            await delivery.finish(Outcome(view, job=job, ok=False))
        except Exception:
            log.exception("could not tell the person of job %s that it was not resumed", job.id)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        await self._worker.aclose()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._generator is not None:
            await self._generator.aclose()
        await self._fetcher.aclose()
        await self._store.close()

    def warm_up(self) -> None:
        """Import the OpenAI SDK now, before any platform connects (``mergebot run`` calls this): the
        import is about a second of CPU, and done on the event loop at a burst's first generation it
        held the loop past Slack's 3 s acknowledgement of the mentions arriving meanwhile."""
        if self._generator is None and self.settings.openai_api_key is not None:
            importlib.import_module("openai")

    @property
    def generator(self) -> ImageGenerator:
        if self._generator is None:
            from .generate import Generator  # imports the OpenAI SDK: only when a merge really runs

            self._generator = Generator(self.settings)
        return self._generator

    # -- new merges -------------------------------------------------------------------------

    async def merge(self, request: MergeRequest, progress: ProgressSink = ignore_progress) -> Outcome:
        """Run a new merge; the outcome's view is the result or the reason it failed."""
        self.drain.track()
        if self.drain.stopping:
            return _restarting()
        try:
            self._check_prompt(request.options)
            if not request.skip_bad:
                check_count(len(request.sources), self.settings.limits.max_images)
            kept = min(len(request.sources), self.settings.limits.max_images)  # gather keeps the newest
            # At least one: with no sources at all, gather says how to attach images.
            reserved = 0 if request.edit is None else 1  # a refine's picture to edit goes first
            inputs = max(1, expected_image_count(request.options.mode, request.options.model, kept, reserved=reserved))
            check_request(request.options, inputs)
            job = Job(id=new_job_id(), origin=request.origin, options=request.options, references=())
            await self._limiter.admit(job, self._reservation(request.options, inputs), gatherer=self._worker.owner)
        except MergebotError as exc:
            return Outcome(failure_view(exc, None), ok=False, error=exc)
        except Exception as exc:
            return self._storage_refusal(exc, "admitting a merge")
        return await self._submit(job, progress, request)

    # -- actions on stored jobs -------------------------------------------------------------

    async def act(
        self,
        action: Action,
        actor: Actor,
        progress: ProgressSink = ignore_progress,
        *,
        prompt: str | None = None,
        roles: str | None = None,
        origin: Origin | None = None,
        marked: ImageSource | None = None,
    ) -> Outcome:
        """Apply a control to a stored job.

        ``prompt`` is the text of an Edit prompt (or Use as reference, or Refine) form, ``roles``
        that of a Roles form (``A=subject C=style:high``, see ``bot.roles``); without them those ask
        for the form (``needs_prompt``, ``needs_roles``). ``marked`` is, for a Refine, a copy of the
        result with the area to change drawn on it (a region edit).
        """
        self.drain.track()
        if self.drain.stopping:
            return _restarting()
        job = await self._store.get(action.job_id)
        if job is None or job.status is JobStatus.DELETED or not _same_workspace(job, actor):
            return Outcome(notice(JobNotFound(action.job_id).user_message), ok=False)
        try:
            self._authorize(job, actor, action.kind)
        except PermissionDenied as exc:
            return Outcome(notice(exc.user_message), job=job, ok=False, error=exc)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and action.kind not in WHILE_RUNNING:
            return Outcome(notice(STILL_RUNNING), job=job, ok=False)  # a second run of it would start
        if action.kind is ActionKind.DETAILS:
            return Outcome(details_view(job, await self._lineage(job)), job=job)
        if action.kind is ActionKind.DELETE and action.arg != DELETE_CONFIRMED:
            return Outcome(delete_confirmation(job), job=job)
        if action.kind is ActionKind.DELETE:
            deleted = replace(job, status=JobStatus.DELETED)
            await self._store.save(deleted)
            if job.status is JobStatus.QUEUED and await self._store.release_unclaimed(job.id):
                self._worker.wake()  # whoever waits for its turn hears at once that it is gone
            return Outcome(notice("Deleted that merge."), job=deleted, deleted=True)
        if action.kind is ActionKind.EDIT_PROMPT and prompt is None:
            return Outcome(View(text=job.options.prompt, ephemeral=True), job=job, needs_prompt=True)
        if action.kind is ActionKind.USE_AS_REFERENCE and prompt is None:
            try:
                self._check_usable_as_reference(job)
            except MergebotError as exc:
                return Outcome(notice(exc.user_message), job=job, ok=False, error=exc)
            return Outcome(reference_prompt(job), job=job, needs_prompt=True)
        if action.kind is ActionKind.ROLES and roles is None:
            return Outcome(View(text=describe_assignments(job.references), ephemeral=True), job=job, needs_roles=True)
        if action.kind is ActionKind.REFINE:
            try:
                self._check_refinable(job)
            except MergebotError as exc:
                return Outcome(notice(exc.user_message), job=job, ok=False, error=exc)
            if prompt is None or not prompt.strip():
                return Outcome(View(text="", ephemeral=True), job=job, needs_prompt=True)
        child_origin = origin or replace(job.origin, user_id=actor.user_id, user_name=actor.user_name)
        if action.kind is ActionKind.PICK:
            return await self._pick(job, action, child_origin)
        try:
            child = await self._child(job, action, child_origin, prompt, roles, marked)
            self._check_prompt(child.options)
            inputs = self._image_count(child)
            check_request(child.options, inputs)
            await self._limiter.admit(child, self._reservation(child.options, inputs), gatherer=self._worker.owner)
        except MergebotError as exc:
            return Outcome(failure_view(exc, None), job=job, ok=False, error=exc)
        except Exception as exc:
            return self._storage_refusal(exc, "admitting a merge")
        return await self._submit(child, progress, None)

    def _storage_refusal(self, exc: Exception, what: str) -> Outcome:
        """The outcome of a write the data dir refused; re-raises anything else."""
        failure = self._storage.failed(exc, what)
        if failure is None:
            raise exc
        return Outcome(failure_view(failure, None), ok=False, error=failure)

    async def _child(
        self,
        parent: Job,
        action: Action,
        origin: Origin,
        prompt: str | None,
        roles: str | None,
        marked: ImageSource | None = None,
    ) -> Job:
        if not parent.references:
            raise InputError("That merge never gathered its images, so there is nothing to redo. Start a new /merge.")
        references = parent.references
        options = parent.options
        tag = action.kind.value
        if action.kind is ActionKind.REBALANCE:
            label = action.arg or ""
            if parent.reference(label) is None:
                raise InputError(f"That merge has no reference {label}.")
            references = rebalanced(references, label)
            tag = f"more:{label}"
        elif action.kind is ActionKind.ROLES and roles is not None:
            references = apply_assignments(references, parse_assignments(roles))
        elif action.kind is ActionKind.EDIT_PROMPT and prompt is not None:
            options = replace(options, prompt=prompt.strip(), check_letters=True)
        elif action.kind is ActionKind.MERGE_ANYWAY:
            options = replace(options, check_letters=False)
        elif action.kind is ActionKind.USE_AS_REFERENCE:
            references = await self._with_result_as_reference(parent)
            tag = f"use:{references[-1].label}"
            options = replace(options, refine=None)  # a new merge, no longer an edit of a picture
            if prompt is not None:
                options = replace(options, prompt=prompt.strip())
        elif action.kind is ActionKind.REFINE:
            refinement = await self._refinement(parent, marked, origin)
            options = replace(options, prompt=(prompt or "").strip(), refine=refinement, check_letters=True)
            tag = "region" if refinement.mask else "refine"
        elif action.kind is ActionKind.VARY:
            number = variation_number(parent, action.arg)
            references, lead = with_variation_first(parent, await self._variation_reference(parent, number))
            check_count(len(references), self.settings.limits.max_images)
            options = replace(options, lead=lead, refine=None)  # a new merge led by that picture
            tag = f"vary:{number}"
        return Job(
            id=new_job_id(),
            origin=origin,
            options=options,
            references=references,
            parent_id=parent.id,
            action=tag,
        )

    @staticmethod
    def _check_refinable(parent: Job) -> None:
        if not parent.result_digests:
            raise InputError("That merge has no result yet to refine. Press Retry first.")

    async def _refinement(self, parent: Job, marked: ImageSource | None, origin: Origin) -> Refinement:
        """What a refine of ``parent`` edits: its (latest) result, within the area marked on ``marked``."""
        self._check_refinable(parent)
        base = parent.result_digests[0]
        if marked is None:
            return Refinement(base)
        picture = await self._blob(parent, base)
        owner = (origin.platform, origin.workspace_id, origin.user_id)
        mask = await marked_mask(picture, marked, self._fetcher, self.settings.limits, owner=owner)
        return Refinement(base, await self._blobs.put(mask))

    async def _picture_to_edit(self, request: MergeRequest, edit: EditSource) -> Refinement:
        """A refine from files: the picture stored as it is (image 1 at its own size) and its mask."""
        picture = await self._fetcher.fetch(edit.picture)
        check_picture(picture, edit.picture.name, self.settings.limits.max_image_pixels)
        base = await self._blobs.put(picture)
        if edit.marked is None:
            return Refinement(base)
        origin = request.origin
        owner = (origin.platform, origin.workspace_id, origin.user_id)
        mask = await marked_mask(picture, edit.marked, self._fetcher, self.settings.limits, owner=owner)
        return Refinement(base, await self._blobs.put(mask))

    async def _pick(self, parent: Job, action: Action, origin: Origin) -> Outcome:
        """Pick N: the stored picture of variation N posted on its own as a normal result.
        No call and no cost: the job is stored finished and takes no place in any quota."""
        try:
            number = variation_number(parent, action.arg)
            image = await self._blob(parent, parent.result_digests[number - 1])
            job = picked(parent, number, new_job_id(), origin)
            await self._store.save(job)
            await self._store.release(job.id)
        except MergebotError as exc:
            return Outcome(notice(exc.user_message), job=parent, ok=False, error=exc)
        except Exception as exc:
            return self._storage_refusal(exc, "recording a pick")
        return Outcome(result_view(job, image, extension(sniff(image) or job.options.output_format)), job=job)

    async def _variation_reference(self, parent: Job, number: int) -> Reference:
        """Variation ``number`` of ``parent`` as a new reference, under the next free letter."""
        kept = [ref.label for ref in parent.references if ref.label != parent.options.lead]
        return await self._result_reference(
            parent,
            parent.result_digests[number - 1],
            label=next_label(kept),
            caption=VARIATION_CAPTION.format(number=number, job=parent.id),
            source=f"variation {number} of merge {parent.id}",
        )

    async def _result_reference(self, parent: Job, digest: str, *, label: str, caption: str, source: str) -> Reference:
        """A stored result of ``parent``, normalised and stored as a reference."""
        result = await self._blob(parent, digest)
        image = await run_image_work(normalize, result, f"result-{parent.id}", max_side=REFERENCE_MAX_SIDE)
        return Reference(
            label=label,
            digest=await self._blobs.put(image.data),
            width=image.width,
            height=image.height,
            byte_size=len(image.data),
            caption=caption,
            source=source,
        )

    async def _lineage(self, job: Job) -> list[Job]:
        """``job``'s ancestors, oldest first, then ``job``: at most ``LINEAGE_SHOWN`` of them."""
        chain = [job]
        while chain[-1].parent_id and len(chain) < LINEAGE_SHOWN:
            parent = await self._store.get(chain[-1].parent_id)
            if parent is None:
                break
            chain.append(parent)
        return chain[::-1]

    def _check_usable_as_reference(self, parent: Job) -> None:
        if not parent.result_digests:
            raise InputError("That merge has no result yet to use as a reference.")
        check_count(len(parent.references) + 1, self.settings.limits.max_images)

    async def _with_result_as_reference(self, parent: Job) -> tuple[Reference, ...]:
        self._check_usable_as_reference(parent)
        reference = await self._result_reference(
            parent,
            parent.result_digests[0],
            label=next_label(ref.label for ref in parent.references),
            caption=f"the previous result ({parent.id})",
            source=f"result of merge {parent.id}",
        )
        return (*parent.references, reference)

    def _reservation(self, options: MergeOptions, input_images: int) -> float:
        """What a merge reserves of its workspace's daily budget: its estimated cost, or 0 for a
        model with no price when the operator allowed those (refused otherwise)."""
        estimate = estimate_request_cost(
            options.model,
            size=options.size,
            quality=options.quality,
            n=options.n,
            prompt_chars=len(options.prompt),
            input_images=input_images,
            overrides=self.settings.prices,
        )
        if estimate is not None:
            return estimate
        if self.settings.limits.allow_unpriced_models:
            return 0.0
        raise LimitExceeded(
            f"I have no price for the model {options.model}, so this workspace's daily budget could not count "
            "this merge. An operator can set its price in MERGEBOT_PRICES, or allow unpriced models with "
            "MERGEBOT_ALLOW_UNPRICED_MODELS=true.",
            UNPRICED_MODEL,
        )

    def _authorize(self, job: Job, actor: Actor, kind: ActionKind) -> None:
        is_requester = actor.user_id == job.origin.user_id
        if kind is ActionKind.DETAILS or is_requester or actor.is_moderator:
            return
        if kind is ActionKind.DELETE:
            raise PermissionDenied("Only the person who asked for this merge, or a moderator, can delete it.")
        if self.settings.control_policy == "requester":
            raise PermissionDenied("Only the person who asked for this merge can use its controls here.")

    async def usage(self, actor: Actor) -> View:
        """``/merge usage``: the person's merges and spend, what is left of their quotas, and
        for moderators the workspace's."""
        return await usage_view(self._store, self.settings.limits, actor)

    # -- lookups adapters need --------------------------------------------------------------

    async def readiness(self) -> list[Check]:
        """Live probes of the store and the blob store, then what each adapter reported."""
        return [*await storage_checks(self._store, self._blobs), *self.health.parts()]

    async def job(self, job_id: str) -> Job | None:
        return await self._store.get(job_id)

    async def job_for_message(self, platform: str, message_id: str) -> Job | None:
        return await self._store.job_for_message(platform, message_id)

    async def record_message(self, job_id: str, role: str, message_id: str) -> None:
        await self._store.set_message(job_id, role, message_id)

    def outcome_shown(self, job_id: str) -> None:
        """An adapter showed the outcome ``merge`` or ``act`` gave it for ``job_id`` (see
        ``Worker.deliver_for``): from now on a restart does not post it again."""
        self._worker.shown(job_id)

    async def last_result_in_channel(self, platform: str, channel_id: str) -> Job | None:
        return await self._store.last_result_in_channel(platform, channel_id)

    async def first_delivery(self, key: str, ttl_s: float = 3600) -> bool:
        """True the first time ``key`` is seen within ``ttl_s``; True too when the store cannot write
        it down (a full disk): a rare repeat is better than a request dropped without a word."""
        try:
            return await self._store.first_delivery(key, ttl_s)
        except Exception as exc:
            if self._storage.failed(exc, "recording a delivery") is None:
                raise
            return True

    async def fit_for_upload(self, image: bytes, max_bytes: int) -> tuple[bytes, str]:
        """``image`` re-encoded or downscaled to fit ``max_bytes``, and its file extension."""
        data, fmt = await run_image_work(fit_to_bytes, image, max_bytes)
        return data, extension(fmt)

    async def result_images(self, job: Job) -> list[bytes]:
        """Every picture a job made (each variation, in order); empty when it made none."""
        return [await self._blob(job, digest) for digest in job.result_digests]

    async def sheet_image(self, job: Job) -> bytes | None:
        """The job's reference sheet, or None when it has none or it was pruned."""
        if not job.sheet_digest:
            return None
        try:
            return await self._blob(job, job.sheet_digest)
        except JobNotFound:
            return None

    # -- the pipeline -----------------------------------------------------------------------

    async def _submit(self, job: Job, sink: ProgressSink, request: MergeRequest | None) -> Outcome:
        """Gather an admitted job's images (new merges), enqueue it and wait for a worker to run it."""
        started = time.perf_counter()
        report = _Reporter(sink, job.id)
        timings: dict[str, float] = {}
        owner = _owner(job.origin)
        if request is not None:
            try:
                async with self._worker.holding(job.id):  # its admission lease lasts while it waits its turn
                    await self._turn_to_gather(owner, report)
            except Released:
                return await self._fail(job, ShuttingDown(NOT_STARTED_AT_STOP), report, timings, started, charged=False)
        ticket = self._worker.expect(job, sink)
        try:
            missing: Mapping[str, str] = missing_from(job.warnings)
            if request is not None:
                try:
                    await report(Stage.FETCHING, f"Fetching {len(request.sources)} images…")
                    async with self._worker.holding(job.id):
                        job, missing, downloads = await self._gather_into(job, request)
                finally:
                    self._gathering.leave(owner)
                timings.update(job.timings)
                if downloads:
                    # Stored ones are read back when the job runs, so a queued job holds no memory for them.
                    kept = {digest: None if self._keep_references else data for digest, data in downloads.items()}
                    self._downloads[job.id] = _Downloads(kept, skip_bad=request.skip_bad)
            self._check_letters(job, missing)
        except Exception as exc:
            self._worker.forget(job.id)
            self._downloads.pop(job.id, None)
            error = exc if isinstance(exc, MergebotError) else self._storage.failed(exc, f"gathering merge {job.id}")
            if error is None:
                log.exception("gathering for merge %s failed unexpectedly", job.id)
                error = MergebotError(f"Something went wrong on my side (merge {job.id}). Please try again.")
            return await self._fail(job, error, report, timings, started, charged=False)
        try:
            enqueued = await self._store.enqueue(job.id, time.time())
        except Exception as exc:
            self._worker.forget(job.id)
            return self._storage_refusal(exc, "queueing a merge")
        if not enqueued:
            self._worker.forget(job.id)
            deleted = await self._deleted_before_its_turn(job)
            if deleted is not None:  # while its images were gathered
                return deleted
            # This process stalled past its gathering lease and another one gave the job up.
            await report(Stage.FAILED, INTERRUPTED_WHILE_GATHERING)
            return Outcome(notice(INTERRUPTED_WHILE_GATHERING), job=job, ok=False)
        self._worker.wake()
        try:
            try:
                with self.drain.waiting():
                    here = await ticket.claimed
            except Released:
                if not ticket.claimed.done() or ticket.claimed.cancelled():
                    # Left queued in the store: the next start (or another replica) runs it.
                    self._worker.forget(job.id)
                    await report(Stage.FAILED, WAITING_AT_STOP)
                    return Outcome(failure_view(ShuttingDown(WAITING_AT_STOP), None), job=job, ok=False)
                # Claimed in the same instant as the stop: it is running, so it finishes as usual.
                here = ticket.claimed.result()
            if not here:  # deleted before its turn, or another replica runs it and shows it in its status message
                return await self._deleted_before_its_turn(job) or Outcome(
                    View(RUNNING_ELSEWHERE), job=job, elsewhere=True
                )
            return await ticket.outcome
        finally:
            self._worker.forget(job.id)
            self._downloads.pop(job.id, None)

    async def _deleted_before_its_turn(self, job: Job) -> Outcome | None:
        """What the person who asked is told (privately: Delete took the status message away) when
        their merge was deleted before any worker took it, its place and reservation given back in
        case the delete did not get to it; None when it was not."""
        if not await self._store.release_unclaimed(job.id):
            return None
        return Outcome(notice(DELETED_BEFORE_ITS_TURN), job=replace(job, status=JobStatus.DELETED), ok=False)

    async def _turn_to_gather(self, owner: tuple[str, str, str], report: _Reporter) -> None:
        """Wait for a turn to gather (``bot.turns``); raises ``Released`` when the bot stops first."""
        if not self._gathering.free():
            await report(Stage.FETCHING, WAITING_TO_GATHER)
        with self.drain.waiting():
            await self._gathering.wait(owner)

    async def _run_claimed(self, claimed: Claimed, sink: ProgressSink) -> Outcome:
        """Compose, generate and store a job a worker claimed; a second attempt says it resumed.
        A job that finished before its worker died posting it is not run again: its stored
        outcome is shown."""
        job = claimed.job
        if job.status in UNSHOWN_STATUSES:
            return await self._stored_outcome(job)
        outcome = await self._run_attempt(claimed, sink)
        if claimed.attempt > 1 and not outcome.view.text.startswith(RESUMED_PREFIX):
            # Its final text says so too: a "resumed" progress edit can be replaced by a later one unseen.
            return replace(outcome, view=replace(outcome.view, text=RESUMED_PREFIX + outcome.view.text))
        return outcome

    async def _run_attempt(self, claimed: Claimed, sink: ProgressSink) -> Outcome:
        job = claimed.job
        report = _Reporter(sink, job.id, resumed=claimed.attempt > 1)
        timings: dict[str, float] = dict(job.timings)
        started = time.perf_counter()
        api_called = claimed.attempt > 1 and job.sheet_digest is not None  # the dead attempt may have been billed
        downloads = self._downloads.get(job.id)
        pending: dict[str, bytes] = {}  # references still as downloaded, by digest: the sheet is built from them
        copying: asyncio.Task[tuple[Reference, ...]] | None = None
        try:
            job = replace(job, status=JobStatus.RUNNING)
            await self._store.save(job)
            if downloads is not None:
                pending = await self._read_downloads(job, downloads)
            if pending and not self._sends_sheet_only(job):
                # Fewer usable files than expected changed the mode: the references go as their own images.
                job, pending = replace(job, references=await self._normalised(job, pending)), {}
            mark = time.perf_counter()
            skip_bad = downloads is None or downloads.skip_bad
            job, prepared = await self._compose_stage(
                job, report, pending, skip_bad=skip_bad, show_sheet=job.sheet_digest is None
            )
            timings["compose"] = time.perf_counter() - mark
            if pending and self._keep_references:
                # The request does not wait for the stored copies: they are made while it runs.
                copying = asyncio.create_task(self._normalised(job, pending))
            mark = time.perf_counter()
            api_called = True
            generated = await self._generate_stage(job, prepared, report)
            timings["generate"] = time.perf_counter() - mark
            job = await self._with_copies(job, pending, copying)
            job = await self._store_result(job, generated, timings, started)
        except MergebotError as exc:
            outcome = await self._fail(job, exc, report, timings, started, charged=api_called)
            return await self._keep_copies_of(outcome, pending, copying)
        except Exception as exc:
            failure = self._storage.failed(exc, f"running merge {job.id}")
            if failure is None:
                log.exception("merge %s failed unexpectedly", job.id)
            error = failure or MergebotError(f"Something went wrong on my side (merge {job.id}). Please try again.")
            outcome = await self._fail(job, error, report, timings, started, charged=api_called)
            return await self._keep_copies_of(outcome, pending, copying)
        finally:
            if copying is not None and not copying.done():  # cancelled mid-run: the downloads stay the references
                copying.cancel()
        if job.status is JobStatus.DELETED:
            await report(Stage.DONE, "Deleted while it ran.")
            return Outcome(
                notice("That merge was deleted while it ran, so its result was not kept."), job=job, ok=False
            )
        self._storage.worked()
        await report(Stage.DONE, "Done.")
        await self._maybe_prune()
        if len(generated.images) > 1:
            grid = await run_image_work(compose_grid, generated.images)
            return Outcome(variations_view(job, grid.data, "jpg"), job=job)
        return Outcome(result_view(job, generated.images[0], extension(generated.output_format)), job=job)

    async def _stored_outcome(self, job: Job) -> Outcome:
        """The outcome a finished job had, from the store (no call, no charge), saying it resumed."""
        log.info("job %s finished before its outcome was shown; showing the stored one", job.id)
        if job.status is JobStatus.FAILED:
            error = MergebotError(job.error or WORKER_FAILED.format(job_id=job.id))
            view = failure_view(error, job)
            return Outcome(replace(view, text=RESUMED_PREFIX + view.text), job=job, ok=False, error=error)
        images = await self.result_images(job)
        if len(images) > 1:
            grid = await run_image_work(compose_grid, images)
            view = variations_view(job, grid.data, "jpg")
        else:
            view = result_view(job, images[0], extension(sniff(images[0]) or job.options.output_format))
        return Outcome(replace(view, text=RESUMED_PREFIX + view.text), job=job)

    async def _compose_stage(
        self, job: Job, report: _Reporter, pending: Mapping[str, bytes], *, skip_bad: bool, show_sheet: bool = True
    ) -> tuple[Job, Prepared]:
        """Build and store the reference sheet, show it (unless a resumed job showed it already),
        and record its panel boxes on the job.

        Files in ``pending`` (downloads by digest) are decoded here for the first time: one whose
        header was fine but whose pixels are not is then skipped like any unusable file, and the
        prompt's letters are checked again.
        """
        await report(Stage.COMPOSING, "Building the reference sheet…")
        while True:
            try:
                prepared = await self._prepare(job, pending)
                break
            except ComposeError as exc:
                if not pending:
                    raise
                job = self._without_unusable(job, exc, skip_bad=skip_bad)
                self._check_letters(job, missing_from(job.warnings))
        sheet = prepared.sheet
        if sheet is None:  # a refine of a picture alone
            if show_sheet:
                await self._show_refine(job, prepared, report)
            return job, prepared
        boxes = {label: (b.x0, b.y0, b.x1, b.y1) for label, b in sheet.boxes.items()}
        notes = tuple(note for note in small_notes(job.references, sheet) if note not in job.warnings)
        job = replace(
            job, sheet_digest=await self._blobs.put(sheet.data), sheet_boxes=boxes, warnings=job.warnings + notes
        )
        await self._store.save(job)
        if job.options.refine is not None:
            if show_sheet:
                await self._show_refine(job, prepared, report)
            return job, prepared
        ready = f"Reference sheet ready ({', '.join(r.label for r in job.references)}). Generating…"
        if show_sheet:
            await report(
                Stage.COMPOSING, ready, image=sheet.data, image_name=f"sheet-{job.id}.{extension(sheet.format)}"
            )
        else:
            await report(Stage.COMPOSING, ready)
        return job, prepared

    async def _show_refine(self, job: Job, prepared: Prepared, report: _Reporter) -> None:
        """Before generating, show what a refine edits: the picture, with a region edit's area outlined."""
        refine = job.options.refine
        if refine is None:
            return
        picture = await self._blob(job, refine.base)
        others = ", ".join(ref.label for ref in prepared.choice.sent) if not prepared.choice.no_room else ""
        after = f", with {others} after it" if others else ""
        if refine.mask is None:
            text, image = f"Refining the previous result{after}: changing only what you asked. Generating…", picture
        else:
            mask = await self._blob(job, refine.mask)
            image = await run_image_work(_outlined, picture, mask)
            text = f"Editing only the outlined area of the previous result{after}. Generating…"
        name = f"refine-{job.id}.{extension(sniff(image) or 'png')}"
        await report(Stage.COMPOSING, text, image=image, image_name=name)

    async def _generate_stage(self, job: Job, prepared: Prepared, report: _Reporter) -> Generated:
        """Call the model, passing each partial preview on as progress with the time it has taken."""
        model = job.options.model
        estimate = self._durations.estimate(model)
        previews = caps_for(model).partial_images(self.settings.partial_images)
        started = time.perf_counter()

        async def on_partial(index: int, image: bytes) -> None:
            await report(
                Stage.GENERATING,
                generating_text(time.perf_counter() - started, estimate, index + 1, previews),
                image=image,
                image_name=f"preview-{job.id}-{index + 1}.{job.options.output_format}",
                partial_index=index,
            )

        await report(Stage.GENERATING, generating_text(0, estimate))
        generated = await self.generator.generate(
            prepared.files,
            prepared.prompt,
            prepared.options,
            on_partial=on_partial,
            person=job.origin,
            area=prepared.area,
        )
        self._durations.add(model, time.perf_counter() - started)
        return generated

    async def _store_result(self, job: Job, generated: Generated, timings: dict[str, float], started: float) -> Job:
        """Keep the images, usage and estimated cost; the job succeeds unless it was deleted meanwhile."""
        digests = tuple([await self._blobs.put(image) for image in generated.images])
        timings["total"] = time.perf_counter() - started
        job = replace(
            job,
            status=await self._final_status(job.id),
            result_digests=digests,
            usage=generated.usage,
            cost_usd=estimate_cost(generated.model, generated.usage, self.settings.prices),
            finished_at=time.time(),
            timings=timings,
        )
        await self._store.save(job)
        return job

    async def _final_status(self, job_id: str) -> JobStatus:
        """SUCCEEDED, unless someone deleted the job while it ran: a delete is never undone."""
        stored = await self._store.get(job_id)
        return JobStatus.DELETED if stored is not None and stored.status is JobStatus.DELETED else JobStatus.SUCCEEDED

    async def _fail(
        self,
        job: Job,
        error: MergebotError,
        report: _Reporter,
        timings: dict[str, float],
        started: float,
        *,
        charged: bool,
    ) -> Outcome:
        """Record the failure; a job that failed before its API call gives its reservation back
        (one that failed after it stays charged at its estimate: the call may have been billed)."""
        timings["total"] = time.perf_counter() - started
        job = replace(job, status=JobStatus.FAILED, error=error.user_message, finished_at=time.time(), timings=timings)
        try:
            await self._store.save(job)
            if not charged:
                await self._store.release(job.id)
        except Exception as exc:  # a full disk must not keep the person from hearing what happened
            if self._storage.failed(exc, f"recording the failure of merge {job.id}") is None:
                raise
        await report(Stage.FAILED, error.user_message)
        return Outcome(failure_view(error, job), job=job, ok=False, error=error)

    async def _gather_into(
        self, job: Job, request: MergeRequest
    ) -> tuple[Job, Mapping[str, str], dict[str, bytes]]:
        """The job with its references gathered (and the time it took in its timings, which its slot
        adds to), why each unused letter has no reference, and the downloads kept as they came (by
        digest) when only the sheet is sent: it is built straight from them, and their normalised
        copies are made later (``_normalised``). A refine from files also has its picture to edit and
        mask stored."""
        if request.edit is not None:
            refinement = await self._picture_to_edit(request, request.edit)
            job = replace(job, options=replace(job.options, refine=refinement))
            if not request.sources:
                await self._store.save(job)
                return job, {}, {}
        origin = request.origin
        started = time.perf_counter()
        kept = min(len(request.sources), self.settings.limits.max_images)
        gathered = await gather(
            request.sources,
            self._fetcher,
            self.settings.limits,
            start_later_hint=request.start_later_hint,
            owner=_owner(origin),
            keep_quick=request.edit is None and sends_sheet_only(request.options.mode, request.options.model, kept),
        )
        if not request.skip_bad and gathered.rejected:
            raise gathered.rejected[0]
        unknown = sorted(set(request.weights) - set(gathered.labels))
        if unknown:
            raise InputError(
                f"There is no {span(unknown)} to weigh: the references are {span(gathered.labels)}."
            )
        pending: dict[str, bytes] = {}
        references = []
        digests = await asyncio.gather(*(self._keep_reference(item.image) for item in gathered.images))
        for item, digest in zip(gathered.images, digests, strict=True):
            if item.image.as_received:
                pending[digest] = item.image.data
            references.append(item.reference(digest, request.weights, request.roles))
        check_request_labels(request, references)
        timings = {**job.timings, "gather": time.perf_counter() - started}
        job = replace(job, references=tuple(references), warnings=gathered.warnings, timings=timings)
        check_request(job.options, self._image_count(job))
        await self._store.save(job)
        return job, gathered.missing, pending

    async def _keep_reference(self, image: Normalized) -> str:
        """Store a gathered image (all at once, each on a thread) and return its digest. A dry run's store
        is thrown away: a file kept as it came is only named, since the request does not need it stored."""
        if image.as_received and not self._keep_references:
            from .blobs import blob_digest

            return await asyncio.to_thread(blob_digest, image.data)
        return await self._blobs.put(image.data)

    async def _read_downloads(self, job: Job, downloads: _Downloads) -> dict[str, bytes]:
        """The bytes of the job's references that are still as downloaded, by digest."""
        files = {}
        for reference in job.references:
            if reference.digest in downloads.files:
                data = downloads.files[reference.digest]
                files[reference.digest] = data if data is not None else await self._blob(job, reference.digest)
        return files

    @staticmethod
    def _without_unusable(job: Job, error: ComposeError, *, skip_bad: bool) -> Job:
        """``job`` without the reference whose file ``error`` names, or ImageRejected when it cannot go on."""
        bad = next((ref for ref in job.references if ref.source == error.name), None)
        if bad is None or not skip_bad or len(job.references) == 1:
            raise ImageRejected(error.name, error.reason)
        return replace(
            job,
            references=tuple(ref for ref in job.references if ref is not bad),
            warnings=(*job.warnings, skipped_line(bad.label, error.name, error.reason)),
        )

    async def _normalised(self, job: Job, pending: Mapping[str, bytes]) -> tuple[Reference, ...]:
        """The job's references, those still as downloaded (in ``pending``) replaced by their normalised,
        stored copies (what later merges re-compose from and what goes as a reference's own image)."""
        limits = self.settings.limits

        async def copy(reference: Reference) -> Reference:
            data = pending.get(reference.digest)
            if data is None:
                return reference
            try:
                image = await normalize_upload(
                    data,
                    reference.source,
                    owner=_owner(job.origin),
                    budget_s=limits.decode_timeout_s,
                    max_side=REFERENCE_MAX_SIDE,
                    max_pixels=limits.max_image_pixels,
                )
            except ComposeError as exc:
                raise ImageRejected(exc.name, exc.reason) from None
            digest = await self._blobs.put(image.data)
            return replace(reference, digest=digest, width=image.width, height=image.height, byte_size=len(image.data))

        return tuple(await asyncio.gather(*(copy(reference) for reference in job.references)))

    async def _with_copies(
        self, job: Job, pending: Mapping[str, bytes], copying: asyncio.Task[tuple[Reference, ...]] | None
    ) -> Job:
        """``job`` with the normalised copies ``copying`` made (made now when it never started); the
        downloads stay its references when that failed, and in a dry run, which keeps nothing."""
        if not pending or not self._keep_references:
            return job
        try:
            references = await copying if copying is not None else await self._normalised(job, pending)
        except MergebotError as exc:  # a file only its normalising found damaged: the reply named it already
            name = type(exc).__name__
            log.warning("normalising the references of merge %s failed (%s); the downloads stay", job.id, name)
            return job
        except Exception:
            log.exception("normalising the references of merge %s failed; the downloads stay", job.id)
            return job
        return replace(job, references=references)

    async def _keep_copies_of(
        self, outcome: Outcome, pending: Mapping[str, bytes], copying: asyncio.Task[tuple[Reference, ...]] | None
    ) -> Outcome:
        """After a failure was told: a retry re-composes from normalised copies, not the downloads."""
        job = outcome.job
        if job is None or not pending or not self._keep_references:
            return outcome
        copied = await self._with_copies(job, pending, copying)
        if copied is not job:
            try:
                await self._store.save(copied)
            except Exception as exc:
                if self._storage.failed(exc, f"keeping the references of merge {job.id}") is None:
                    raise
        return outcome

    @staticmethod
    def _check_letters(job: Job, missing: Mapping[str, str]) -> None:
        """Refuse, before any call, a prompt naming letters that no reference carries."""
        if not job.options.check_letters:
            return
        present = [ref.label for ref in job.references]
        problems = unusable_named(job.options.prompt, present, missing)
        if problems:
            raise MissingReference(missing_message(problems, present), tuple(letter for letter, _ in problems))

    async def _blob(self, job: Job, digest: str) -> bytes:
        from .blobs import BlobMissing

        try:
            return await self._blobs.get(digest)
        except BlobMissing:
            log.warning("blob %s of job %s is gone", digest, job.id)
            raise JobNotFound(job.id) from None

    async def _prepare(self, job: Job, pending: Mapping[str, bytes] | None = None) -> Prepared:
        pending = pending or {}
        images = {ref.digest: pending.get(ref.digest) or await self._blob(job, ref.digest) for ref in job.references}
        refine = job.options.refine
        for digest in () if refine is None else (refine.base, refine.mask):
            if digest is not None:
                images[digest] = await self._blob(job, digest)
        return await prepare(job.options, job.references, images, self.settings.sheet_side)

    def _check_prompt(self, options: MergeOptions) -> None:
        if not 1 <= options.n <= MAX_VARIATIONS:
            raise InputError(f"A merge makes 1 to {MAX_VARIATIONS} variations, not {options.n}.")
        if not options.prompt.strip():
            raise InputError("Say what to make: add a prompt, e.g. /merge the cat from A in the room from B.")
        limit = self.settings.limits.max_prompt_chars
        if len(options.prompt) > limit:
            raise PromptTooLong(
                f"Your prompt is {len(options.prompt)} characters; the limit is {limit}. Shorten it and try again."
            )

    @staticmethod
    def _sends_sheet_only(job: Job) -> bool:
        if job.options.refine is not None:  # the picture to edit goes first, as its own image
            return False
        return choose_mode(job.options.mode, job.options.model, job.references).mode is Mode.COLLAGE

    @staticmethod
    def _image_count(job: Job) -> int:
        reserved = 0 if job.options.refine is None else 1
        return choose_mode(
            job.options.mode, job.options.model, job.references, reserved=reserved, lead=job.options.lead
        ).image_count

    async def _maybe_prune(self) -> None:
        self._finished_since_prune += 1
        if self._finished_since_prune < PRUNE_EVERY:
            return
        self._finished_since_prune = 0
        freed = await self._blobs.prune(await self._store.referenced_digests())
        if freed:
            log.info("pruned %d bytes of unused blobs", freed)


def _outlined(picture: bytes, mask_png: bytes) -> bytes:
    """``picture`` with the area its mask opens outlined (JPEG)."""
    from compose import outline, region_from_mask

    return outline(picture, region_from_mask(mask_png))


@dataclass(frozen=True)
class _Downloads:
    """A job's references kept as downloaded, until the run that builds its sheet from them makes their
    normalised copies: by digest, the bytes themselves when they are not stored (a dry run), else None."""

    files: Mapping[str, bytes | None]
    skip_bad: bool


def _owner(origin: Origin) -> tuple[str, str, str]:
    """Who shares the image workers fairly with other people: the person asking."""
    return (origin.platform, origin.workspace_id, origin.user_id)


def _restarting() -> Outcome:
    error = ShuttingDown(RESTARTING)
    return Outcome(failure_view(error, None), ok=False, error=error)


def _same_workspace(job: Job, actor: Actor) -> bool:
    return job.origin.platform == actor.platform and job.origin.workspace_id == actor.workspace_id
