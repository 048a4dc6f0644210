"""The job store interface and the registry of its drivers.

The pipeline only talks to ``JobStore``. A driver is chosen by name from the
settings (``sqlite`` is the one that ships; a server-backed driver registers
itself the same way and is imported only when chosen). Every driver runs the
same contract tests in ``tests/store/``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .errors import ConfigError
from .model import Job
from .settings import Settings

log = logging.getLogger(__name__)

DEFAULT_DRIVER = "sqlite"
INTERRUPTED_WHILE_RUNNING = "The bot restarted while this merge was running. Press Retry to run it again."
INTERRUPTED_WHILE_QUEUED = "The bot restarted while this merge was waiting its turn. Press Retry to run it again."


@runtime_checkable
class JobStore(Protocol):
    """Where jobs, their references, lineage and platform message ids live.

    Jobs are saved whole and come back equal to what was saved. One process owns
    a store at a time: ``open`` treats unfinished jobs as left by a dead process.
    """

    async def open(self) -> None:
        """Create or migrate the schema; mark jobs left queued or running as interrupted."""
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

    async def count_user_jobs_since(self, platform: str, workspace_id: str, user_id: str, since: float) -> int:
        """How many jobs a person started since ``since`` (epoch seconds), whatever became of them."""
        ...

    async def cost_since(self, platform: str, workspace_id: str, since: float) -> float:
        """The estimated cost in USD of a workspace's jobs started since ``since``."""
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
_lazy_modules: dict[str, str] = {"sqlite": "bot.sqlite_store"}


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

