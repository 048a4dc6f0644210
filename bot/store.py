"""The job store interface and the registry of its drivers.

The pipeline only talks to ``JobStore``. A driver is chosen by name from the
settings (``sqlite`` is the one that ships; a server-backed driver registers
itself the same way and is imported only when chosen). Every driver runs the
same contract tests in ``tests/store/``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from .errors import ConfigError
from .model import Job, JobStatus
from .settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DRIVER = "sqlite"
INTERRUPTED_WHILE_RUNNING = "The bot restarted while this merge was running. Press Retry to run it again."
INTERRUPTED_WHILE_QUEUED = "The bot restarted while this merge was waiting its turn. Press Retry to run it again."
INTERRUPTED_WHILE_GATHERING = "The bot restarted while it gathered this merge's images. Run /merge again."

# Finished jobs whose outcome a worker posts: one that died before it was shown leaves it to another.
UNSHOWN_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED)

# The limits ``JobStore.admit`` can refuse with (``LimitExceeded.limit`` carries the same names).
PER_USER_DAILY = "per_user_daily"
WORKSPACE_DAILY_COST = "workspace_daily_cost"


@dataclass(frozen=True)
class Quota:
    """What an admission is checked against: jobs created since ``since`` (epoch seconds)
    count, a person may have ``per_user_daily`` of them, and a workspace's charges (settled
    costs, and reservations of jobs not settled yet) may add up to ``workspace_daily_usd``."""

    since: float
    per_user_daily: int
    workspace_daily_usd: float


class Totals(NamedTuple):
    """How many jobs were started in a period and their estimated cost in USD."""

    jobs: int
    cost_usd: float


@dataclass(frozen=True)
class Caps:
    """How many jobs may hold a lease at once: in all, and per person."""

    global_concurrency: int
    per_user_concurrency: int


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds the lease of; ``attempt`` 1 is its first run, more is a resume."""

    job: Job
    attempt: int


@runtime_checkable
class JobStore(Protocol):
    """Where jobs, their references, lineage and platform message ids live.

    Jobs are saved whole and come back equal to what was saved. One process owns
    a store at a time: ``open`` treats unfinished jobs as left by a dead process.
    """

    async def open(self) -> None:
        """Create or migrate the schema.

        A driver whose database only one process uses at a time (SQLite) also recovers what the
        dead process left: running jobs become claimable at once, jobs still gathering their
        images are marked interrupted (there is nothing stored to resume them from).
        """
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...

    async def save(self, job: Job) -> None:
        """Insert or replace the job with its references, sheet boxes and usage.

        Its message ids are merged into those already stored (``set_message`` may have
        recorded some the caller's copy lacks); none is dropped.
        """
        ...

    async def get(self, job_id: str) -> Job | None:
        """The job with this id, or None."""
        ...

    async def set_message(self, job_id: str, role: str, message_id: str) -> None:
        """Record the platform message that shows ``role`` of a job (raises ``JobNotFound``)."""
        ...

    async def job_for_message(self, platform: str, message_id: str) -> Job | None:
        """The job a platform message belongs to (the newest when several claim it), or None."""
        ...

    async def children(self, job_id: str) -> list[Job]:
        """Jobs made from ``job_id`` by an action, oldest first."""
        ...

    async def recent_jobs(self, platform: str, workspace_id: str, limit: int = 20) -> list[Job]:
        """The newest jobs of a workspace that are not deleted, newest first."""
        ...

    async def admit(
        self, job: Job, reserve_usd: float, quota: Quota, *, gatherer: str | None = None, lease_until: float = 0.0
    ) -> str | None:
        """Insert ``job`` holding a place in its person's daily count and ``reserve_usd`` of its
        workspace's budget, if both fit ``quota``; else insert nothing.

        With ``gatherer``, that worker holds the job's lease until ``lease_until`` while it gathers
        the images (it renews it like a running job's; ``enqueue`` ends it). Should it die, the
        job is found by ``expire_gathering`` once the lease ran out. A gathering lease takes no
        concurrency slot.

        None when admitted, else the limit that refused (``PER_USER_DAILY`` or
        ``WORKSPACE_DAILY_COST``). The check and the insert are one transaction, so bursts,
        and several processes sharing the store, never pass a limit. The reservation is
        settled by saving the job with its ``cost_usd`` (its charge from then on) and
        given back by ``release``.
        """
        ...

    async def release(self, job_id: str) -> None:
        """Give back a job's place in the daily count and its reservation (it failed before
        costing anything). Saving the job later does not take them again."""
        ...

    async def release_unclaimed(self, job_id: str) -> bool:
        """``release`` job ``job_id`` when it is deleted and no worker ever claimed it (none ever will:
        a deleted job is not claimable, so it can have cost nothing); True when it is such a job."""
        ...

    # -- the durable queue: a job is claimable once enqueued, and while nobody holds its lease

    async def enqueue(self, job_id: str, now: float) -> bool:
        """Make an admitted job (its references gathered) claimable, in line behind those enqueued
        before ``now``, and end its gathering lease. False when it is no longer gathering (it was
        enqueued already, or ``expire_gathering`` gave it up)."""
        ...

    async def expire_gathering(self, platforms: Sequence[str], now: float) -> list[Job]:
        """Mark interrupted, release and return the jobs of ``platforms`` still gathering whose
        gatherer's lease ran out by ``now`` (its process died): their people are told to ask again.
        (The worker passes a ``now`` one lease back, so a gatherer is given up two leases late.)"""
        ...

    async def claim(
        self, owner: str, platforms: Sequence[str], caps: Caps, lease_s: float, now: float
    ) -> Claimed | None:
        """Take the oldest claimable job of ``platforms`` whose person is under ``caps``, if the
        global cap allows one more, and hold its lease until ``now + lease_s``; else None.

        Claimable: enqueued and not finished, and nobody holds a live lease on it (a job whose
        lease expired, because its worker died, is claimed again and counts as a resume). A job
        that finished (``UNSHOWN_STATUSES``) but whose outcome was never shown (its worker died
        posting it) is claimable too, whatever the caps: its claimer posts the stored outcome and
        generates nothing. It keeps its status; a queued job's becomes running. The caps count
        the live leases of running jobs, so they hold for every worker sharing the store. Time spent
        waiting for the store (a connection, the claim lock) counts: the lease is live for
        ``lease_s`` after the claim takes effect, not after ``now``.
        """
        ...

    async def renew(self, job_id: str, owner: str, lease_s: float, now: float) -> bool:
        """Extend ``owner``'s lease to ``now + lease_s``; False when ``owner`` no longer holds it."""
        ...

    async def end_lease(self, job_id: str, owner: str, *, shown: bool = True) -> None:
        """``owner`` is done with the job (finished, failed or handed back): its slot is free.

        A finished job's outcome counts as shown from then on, unless ``shown`` is False (its
        posting was cut off): then the next claim posts it again. Nothing changes when
        ``owner`` no longer holds the lease."""
        ...

    async def queue_positions(self, now: float) -> dict[str, int]:
        """Every claimable job's place in line (1 is next), by the order they were enqueued."""
        ...

    async def taken_elsewhere(self, job_ids: Sequence[str], owner: str, now: float) -> set[str]:
        """Which of ``job_ids`` left the line without ``owner``: enqueued, and now held under a
        live lease of another worker, or finished. Their callers stop waiting for them here."""
        ...

    async def expire_unclaimed(self, created_before: float, now: float) -> list[Job]:
        """Mark claimable jobs created before ``created_before`` interrupted, and return them:
        too old to resume by themselves (their people are told and can press Retry). Those that
        never reached the API are released."""
        ...

    async def count_user_jobs_since(self, platform: str, workspace_id: str, user_id: str, since: float) -> int:
        """How many jobs of a person created since ``since`` (epoch seconds) count against the
        daily limit: every one but those released (failed before the API call)."""
        ...

    async def cost_since(self, platform: str, workspace_id: str, since: float) -> float:
        """What a workspace's jobs created since ``since`` are charged in USD: the settled cost of
        finished ones, the reservation of the others (running ones too); released ones are free."""
        ...

    async def totals_since(
        self, platform: str, workspace_id: str, since: float, user_id: str | None = None
    ) -> Totals:
        """What a workspace's jobs created since ``since`` (one person's, when ``user_id`` is given)
        count against the quotas: how many (released ones are not counted) and their charge, as
        ``count_user_jobs_since`` and ``cost_since`` count them."""
        ...

    async def last_result_in_channel(self, platform: str, channel_id: str) -> Job | None:
        """The newest succeeded job of a channel, or None."""
        ...

    async def first_delivery(self, key: str, ttl_s: float = 3600) -> bool:
        """True the first time ``key`` is seen within ``ttl_s`` seconds (de-duplicates retried events)."""
        ...

    async def referenced_digests(self) -> set[str]:
        """Digests of every blob a job that is not deleted still uses."""
        ...


StoreFactory = Callable[[Settings], JobStore]

_factories: dict[str, StoreFactory] = {}
# Drivers that register themselves when their module is imported, so optional
# dependencies are paid for only by the deployments that choose them.
_lazy_modules: dict[str, str] = {"sqlite": "bot.sqlite_store", "postgres": "bot.postgres_store"}


def register_driver(name: str, factory: StoreFactory) -> None:
    """Make a store driver available under ``name``."""
    _factories[name] = factory


def drivers() -> tuple[str, ...]:
    """The names of the store drivers that can be chosen."""
    return tuple(sorted(set(_factories) | set(_lazy_modules)))


def create_store(settings: Settings, driver: str | None = None) -> JobStore:
    """A store of the chosen driver, not opened yet."""
    name = driver or settings.store_driver
    if name not in _factories and name in _lazy_modules:
        importlib.import_module(_lazy_modules[name])
    factory = _factories.get(name)
    if factory is None:
        raise ConfigError(f"MERGEBOT_STORE must be one of {', '.join(drivers())}, got {name!r}")
    return factory(settings)


async def open_store(settings: Settings) -> JobStore:
    """The store chosen by the settings, opened (schema migrated, dead jobs marked interrupted)."""
    store = create_store(settings)
    await store.open()
    log.info("job store opened (%s)", type(store).__name__)
    return store
