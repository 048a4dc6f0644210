"""The worker: claims queued jobs from the store and runs them under a lease it renews.

A merge is stored and enqueued by ``MergeService``; any worker sharing the store may claim
it. The claim enforces the global and per-person concurrency caps (live leases are the
running jobs), so a person's extra merges wait in line instead of being refused. A job whose
worker died is claimed again once its lease expires and resumes.

Where a job's progress and outcome go: to the caller waiting for it in this process
(``expect``), else to the ``Delivery`` its platform registered (``deliver_for``), which
addresses the job's stored messages through the platform's REST API. Jobs of a platform
with neither are not claimed here.

A worker that ``runs_jobs=False`` (an events-only replica) never claims: it only tells its
callers their place in line, and that another replica took their job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

from .model import Job, JobStatus, Outcome, Progress, ProgressSink, Stage, View
from .store import INTERRUPTED_WHILE_GATHERING, INTERRUPTED_WHILE_QUEUED, UNSHOWN_STATUSES, Caps, Claimed, JobStore

log = logging.getLogger(__name__)

LEASE_S = 30.0  # the default lease (MERGEBOT_LEASE_SECONDS): a dead worker's job is claimed again within it
POLL_S = 1.0  # look for work other processes enqueued (or left behind) this often
# A lease is renewed this many times per lease: a process held up (a busy machine starves its event
# loop for seconds) keeps its jobs unless it misses the renewals of five sixths of a lease.
RENEWALS_PER_LEASE = 6
# A job enqueued by another replica may be claimed before that replica stored its status
# message id; the claiming worker waits this long for it before posting a new status message.
STATUS_WAIT_S = 5.0
STATUS_ROLE = "status"  # the job_messages role of the message that shows a job (both adapters)
RESULT_ROLE = "result"  # the role of the message that shows its result, recorded once it is posted
# A caller here whose platform shows outcomes itself (it registered a Delivery) confirms each one it
# showed (``shown``); until then, or this long, the job's lease is kept, so that if this process dies
# before the outcome is posted another worker posts the stored one.
SHOW_WAIT_S = 60.0
WORKER_FAILED = "Something went wrong on my side (merge {job_id}). Please try again."


@dataclass(frozen=True)
class Delivery:
    """Where a job nobody in this process waits for shows its progress and its outcome."""

    progress: ProgressSink
    finish: Callable[[Outcome], Awaitable[None]]


Resumer = Callable[[Job], Awaitable[Delivery]]
RunJob = Callable[[Claimed, ProgressSink], Awaitable[Outcome]]


@dataclass(frozen=True)
class Ticket:
    """What a caller waiting for its job holds: ``claimed`` resolves once the job left the line,
    True when a worker here took it (``outcome`` then resolves when it has run), False when
    another replica did (that replica shows its progress and outcome)."""

    claimed: asyncio.Future[bool]
    outcome: asyncio.Future[Outcome]


@dataclass
class _Waiter:
    """A caller in this process waiting for its job's outcome."""

    platform: str
    progress: ProgressSink
    outcome: asyncio.Future[Outcome]
    claimed: asyncio.Future[bool]  # done once the job left the line: True here, False elsewhere
    position: int | None = None
    shown: asyncio.Event = field(default_factory=asyncio.Event)  # the caller showed the outcome


@dataclass
class _Running:
    task: asyncio.Task[None]
    job_id: str
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Worker:
    """Claims and runs jobs until stopped. ``run_job`` runs one claimed job to its outcome."""

    def __init__(
        self, store: JobStore, caps: Caps, run_job: RunJob, *, runs_jobs: bool = True, lease_s: float = LEASE_S
    ) -> None:
        self._store = store
        self._lease_s = lease_s
        self._caps = caps
        self._run_job = run_job
        self.owner = f"worker-{secrets.token_hex(4)}"
        self._resumers: dict[str, Resumer] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._showing: dict[str, _Waiter] = {}  # by job id: callers holding an outcome they have not shown yet
        self._running: dict[str, _Running] = {}
        self._wake = asyncio.Event()
        self._claiming = runs_jobs
        self._closed = False
        self._loop: asyncio.Task[None] | None = None

    # -- what the service and the adapters call

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._serve(), name="mergebot:worker")

    def deliver_for(self, platform: str, resumer: Resumer) -> None:
        """Let this worker run ``platform``'s jobs that nobody here waits for (resumed, or enqueued elsewhere).

        Such a platform confirms every outcome its callers here showed (``shown``): a job's outcome
        counts as posted only then, so one this process died posting is posted by another worker."""
        self._resumers[platform] = resumer
        self.wake()

    def expect(self, job: Job, progress: ProgressSink) -> Ticket:
        """The claim and the outcome of ``job`` once a worker here runs it; its progress goes to ``progress``."""
        loop = asyncio.get_running_loop()
        ticket = Ticket(claimed=loop.create_future(), outcome=loop.create_future())
        self._waiters[job.id] = _Waiter(job.origin.platform, progress, ticket.outcome, ticket.claimed)
        return ticket

    def shown(self, job_id: str) -> None:
        """The caller of ``job_id`` showed its outcome (posted it in the chat)."""
        waiter = self._showing.get(job_id)
        if waiter is not None:
            waiter.shown.set()

    def forget(self, job_id: str) -> None:
        """Stop waiting for ``job_id`` (it failed before it was enqueued, or the caller left)."""
        self._waiters.pop(job_id, None)

    @contextlib.asynccontextmanager
    async def holding(self, job_id: str) -> AsyncIterator[None]:
        """Renew the lease ``job_id`` was admitted under while the caller gathers its images; should
        this process die, another one finds the job with ``expire_gathering`` and tells its person."""
        renewing = asyncio.get_running_loop().create_task(self._renew(job_id, None))
        try:
            yield
        finally:
            renewing.cancel()

    def wake(self) -> None:
        """Look for claimable work now rather than at the next poll."""
        self._wake.set()

    def stop_claiming(self) -> None:
        """Take no new jobs; those running carry on (the first half of a clean stop)."""
        self._claiming = False

    @property
    def running(self) -> int:
        return len(self._running)

    async def drain(self, grace_s: float) -> bool:
        """Wait up to ``grace_s`` for the running jobs; True when all finished in time."""
        tasks = [r.task for r in self._running.values()]
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=grace_s)
        return not pending

    async def aclose(self) -> None:
        """Stop claiming and cancel what still runs: its jobs stay claimable for the next start."""
        self._claiming = False
        self._closed = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        tasks = [r.task for r in self._running.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for waiter in self._waiters.values():
            for future in (waiter.claimed, waiter.outcome):
                if not future.done():
                    future.cancel()
        self._waiters.clear()

    # -- the loop

    async def _serve(self) -> None:
        while not self._closed:
            self._wake.clear()
            try:
                await self._tick()
            except Exception:
                log.exception("the worker could not read the queue; trying again")
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._wake.wait()

    async def _tick(self) -> None:
        if self._claiming:
            await self._tell_abandoned()
        while self._claiming:
            platforms = sorted(set(self._resumers) | {w.platform for w in self._waiters.values()})
            claimed = await self._store.claim(self.owner, platforms, self._caps, self._lease_s, time.time())
            if claimed is None:
                break
            self._start(claimed)
        await self._tell_positions()

    async def _tell_abandoned(self) -> None:
        """Tell the people whose merges a dead process was still gathering that they must ask again."""
        # A gatherer is given up a whole lease after its lease ran out: waiting for a slow one costs
        # nothing, while giving up one that is alive (its event loop held up) loses a request.
        for job in await self._store.expire_gathering(sorted(self._resumers), time.time() - self._lease_s):
            log.info("job %s was left gathering by a process that died; telling its person", job.id)
            try:
                delivery = await self._resumers[job.origin.platform](job)
                await delivery.finish(Outcome(View(job.error or INTERRUPTED_WHILE_GATHERING), job=job, ok=False))
            except Exception:
                log.exception("could not tell the person of job %s that it was interrupted", job.id)

    async def _tell_positions(self) -> None:
        waiting = {job_id: w for job_id, w in self._waiters.items() if job_id not in self._running}
        if not waiting:
            return
        now = time.time()
        positions = await self._store.queue_positions(now)
        gone = [job_id for job_id in waiting if job_id not in positions]
        for job_id in await self._store.taken_elsewhere(gone, self.owner, now) if gone else set():
            waiter = self._waiters.pop(job_id)
            del waiting[job_id]
            if not waiter.claimed.done():
                waiter.claimed.set_result(False)
        for job_id, waiter in waiting.items():
            position = positions.get(job_id)
            if position is None or position == waiter.position:
                continue
            waiter.position = position
            text = "Queued: you are next" if position == 1 else f"Queued: number {position} in line"
            await _safely(waiter.progress, Progress(Stage.QUEUED, job_id, text, queue_position=position))

    def _start(self, claimed: Claimed) -> None:
        job_id = claimed.job.id
        task = asyncio.get_running_loop().create_task(self._work(claimed), name=f"mergebot:job:{job_id}")
        self._running[job_id] = _Running(task, job_id)

    async def _work(self, claimed: Claimed) -> None:
        job = claimed.job
        renewing = asyncio.get_running_loop().create_task(self._renew(job.id, asyncio.current_task()))
        waiter = self._waiters.pop(job.id, None)
        if waiter is not None and not waiter.claimed.done():
            waiter.claimed.set_result(True)
        shown = True  # False only while an outcome is being posted: cut off then, it is posted again
        try:
            if job.status is JobStatus.SUCCEEDED and RESULT_ROLE in job.messages:
                log.info("job %s: its result was posted before its worker died", job.id)
                return
            delivery = await self._delivery(claimed, waiter)
            if delivery is None:  # its caller was in this process and is gone: nobody would see it
                await self._nobody_to_show(claimed)
                return
            outcome = await self._run_job(claimed, delivery.progress)
            if not await self._store.renew(job.id, self.owner, self._lease_s, time.time()):
                log.warning("lost the lease of job %s before its outcome; another worker has it", job.id)
                return
            shown = False
            await delivery.finish(outcome)  # the lease is renewed meanwhile
            shown = True
        except asyncio.CancelledError:
            raise
        except Exception:
            shown = True  # a post that failed is not tried again and again
            log.exception("job %s could not be run or shown", job.id)
        finally:
            renewing.cancel()
            if waiter is not None and not waiter.outcome.done():  # never leave a caller waiting forever
                waiter.outcome.set_result(Outcome(View(WORKER_FAILED.format(job_id=job.id)), job=job, ok=False))
            self._showing.pop(job.id, None)
            self._running.pop(job.id, None)
            await self._end_lease(job.id, shown=shown)
            self.wake()

    async def _nobody_to_show(self, claimed: Claimed) -> None:
        job = claimed.job
        if job.status in UNSHOWN_STATUSES:
            log.info("job %s finished, but nobody here can show it", job.id)
            return
        log.info("job %s has nobody to show it to; marking it interrupted", job.id)
        await self._store.save(replace(job, status=JobStatus.INTERRUPTED, error=INTERRUPTED_WHILE_QUEUED))
        if claimed.attempt == 1:
            await self._store.release(job.id)

    async def _delivery(self, claimed: Claimed, waiter: _Waiter | None) -> Delivery | None:
        job = claimed.job
        if waiter is not None:
            return self._to_caller(job.id, waiter)
        resumer = self._resumers.get(job.origin.platform)
        if resumer is None:
            return None
        if claimed.attempt == 1 and STATUS_ROLE not in job.messages:
            job = await self._with_status_message(job)
        return await resumer(job)

    def _to_caller(self, job_id: str, waiter: _Waiter) -> Delivery:
        """The outcome goes to the caller waiting here; once it confirmed it showed it (when its
        platform confirms: see ``deliver_for``), or after ``SHOW_WAIT_S``, the job counts as shown."""
        confirms = waiter.platform in self._resumers

        async def finish(result: Outcome) -> None:
            if confirms:
                self._showing[job_id] = waiter
            if not waiter.outcome.done():
                waiter.outcome.set_result(result)
            if confirms:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SHOW_WAIT_S):
                        await waiter.shown.wait()

        return Delivery(waiter.progress, finish)

    async def _with_status_message(self, job: Job) -> Job:
        """``job`` once the replica that took its event stored its status message (or as it is
        after ``STATUS_WAIT_S``): a job can be claimed here before that replica posted it."""
        deadline = time.monotonic() + STATUS_WAIT_S
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            stored = await self._store.get(job.id)
            if stored is not None and STATUS_ROLE in stored.messages:
                return replace(job, messages=stored.messages)
        return job

    async def _renew(self, job_id: str, work: asyncio.Task[None] | None) -> None:
        every = self._lease_s / RENEWALS_PER_LEASE
        while True:
            due = time.monotonic() + every
            await asyncio.sleep(every)
            if (late := time.monotonic() - due) > 2 * every:  # the event loop was held up: the lease is at risk
                log.warning("the lease of job %s is renewed %.1f s late", job_id, late)
            try:
                held = await self._store.renew(job_id, self.owner, self._lease_s, time.time())
            except Exception:
                log.warning("could not renew the lease of job %s", job_id, exc_info=True)
                continue
            if not held:
                log.warning("lost the lease of job %s; stopping it", job_id)
                if work is not None:
                    work.cancel()
                return

    async def _end_lease(self, job_id: str, *, shown: bool) -> None:
        # Shielded: a cancelled job still hands its slot back, so the next start resumes it at once.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(self._store.end_lease(job_id, self.owner, shown=shown))


async def _safely(sink: ProgressSink, progress: Progress) -> None:
    try:
        await sink(progress)
    except Exception:
        log.exception("progress sink failed for job %s", progress.job_id)
