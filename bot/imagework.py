"""Where CPU-bound image work runs, so that one person's file cannot hold up anyone else.

Two lanes, both shared fairly: a free place goes to the waiting owner (a person)
who holds the fewest, so a queue of one person's files never stands in front of
another person's.

- **Threads** (``IMAGE_THREADS``): trusted work (reference sheets, results) and
  uploads whose decode ``compose.decode.probe_if_light`` knows to be quick (a
  baseline phone photo, a small PNG). Pillow releases the GIL while it decodes
  and resizes, but many threads trading it back and forth starve the event loop:
  normalising 16 photos of 12 MP in the default pool (6 threads here) stalled the
  loop for 170 ms; two threads keep the worst stall under 20 ms at nearly the
  same throughput (benchmarks/bench_pipeline).
- **Processes** (``DECODE_PROCESSES``): every other upload, under a time budget.
  A worker past the budget, or whose merge was cancelled, is killed (a thread
  cannot be) and the file refused as "this file takes too long to decode"; a
  worker a decoder crashed is replaced the same way. One owner holds at most one
  worker while there are two, so the other is always free for everyone else.
  Workers are forked from a forkserver on first use and kept, so a merge of
  phone photos, or a CLI run, never pays for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from compose import ComposeError, Normalized, normalize
from compose.decode import probe_if_light
from compose.errors import DecodeTooSlow
from compose.reference import as_received

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess

log = logging.getLogger(__name__)

IMAGE_THREADS = 2
DECODE_PROCESSES = 2
TRUSTED = "trusted-work"  # the owner of work no person caused (sheets, results)

P = ParamSpec("P")
T = TypeVar("T")


class FairSlots:
    """``capacity`` places shared by owners: a freed place goes to the waiting owner holding the fewest.

    An owner holds at most ``per_owner`` places at once; ties go to the longest wait.
    """

    def __init__(self, capacity: int, per_owner: int | None = None) -> None:
        self._capacity = capacity
        self._per_owner = per_owner or capacity
        self._held: Counter[Hashable] = Counter()
        self._waiting: list[tuple[Hashable, asyncio.Future[None]]] = []

    @contextlib.asynccontextmanager
    async def place(self, owner: Hashable) -> AsyncIterator[None]:
        await self.acquire(owner)
        try:
            yield
        finally:
            self.release(owner)

    def held(self, owner: Hashable) -> int:
        return self._held[owner]

    def free(self) -> bool:
        """Whether an owner asking now would get a place at once (nobody waits, one is free)."""
        return not self._waiting and sum(self._held.values()) < self._capacity

    async def acquire(self, owner: Hashable) -> None:
        """Wait for a place; a cancelled wait takes none (and gives back one granted meanwhile)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((owner, waiter))
        self._grant()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(owner)  # granted just as it was cancelled: give the place back
            else:
                self._waiting = [(who, future) for who, future in self._waiting if future is not waiter]
            raise

    def release(self, owner: Hashable) -> None:
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]
        self._grant()

    def _grant(self) -> None:
        while sum(self._held.values()) < self._capacity:
            eligible = [
                (self._held[who], index)
                for index, (who, future) in enumerate(self._waiting)
                if self._held[who] < self._per_owner and not future.done()
            ]
            if not eligible:
                self._waiting = [(who, future) for who, future in self._waiting if not future.done()]
                return
            _count, index = min(eligible)
            owner, waiter = self._waiting.pop(index)
            self._held[owner] += 1
            waiter.set_result(None)


class _ThreadLane:
    def __init__(self, threads: int) -> None:
        self._slots = FairSlots(threads)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="mergebot-image")

    async def run(self, owner: Hashable, fn: Callable[[], T]) -> T:
        async with self._slots.place(owner):
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn)


class _Worker:
    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self.process = process
        self.connection = connection

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, object]:
        self.connection.send((fn, args, kwargs))
        reply: tuple[str, object] = self.connection.recv()
        return reply

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.connection.close()


class ProcessLane:
    """Calls run in worker processes under a time budget; a worker that overruns is killed and replaced."""

    def __init__(self, workers: int = DECODE_PROCESSES) -> None:
        self._slots = FairSlots(workers, per_owner=max(1, workers - 1))
        import multiprocessing  # only when a file needs a worker: most merges never do

        # Forked from a clean, single-threaded server: cheap per worker, and no lock of ours copied mid-use.
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["bot.decode_worker"])
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._closed = False
        # Each call blocks a thread on its pipe; a killed worker's thread may still be unwinding.
        self._io = ThreadPoolExecutor(workers * 2, thread_name_prefix="mergebot-decode")

    def worker_pids(self) -> list[int]:
        """The live workers' process ids (benchmarks read their peak memory)."""
        return [pid for worker in (*self._idle, *self._busy) if (pid := worker.process.pid) is not None]

    async def run(
        self, owner: Hashable, budget_s: float, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """``fn(*args, **kwargs)`` in a worker; DecodeTooSlow naming ``name`` past ``budget_s`` seconds."""
        loop = asyncio.get_running_loop()
        async with self._slots.place(owner):
            worker = self._idle.pop() if self._idle else await loop.run_in_executor(self._io, self._start)
            self._busy.add(worker)
            try:
                status, value = await asyncio.wait_for(
                    loop.run_in_executor(self._io, worker.call, fn, args, kwargs), budget_s
                )
            except TimeoutError:
                self._discard(worker)
                log.info("a decode passed its %.1f s budget; its worker was stopped", budget_s)
                raise DecodeTooSlow(name) from None
            except (EOFError, OSError) as error:
                self._discard(worker)
                log.warning("a decode worker died (exit code %s)", worker.process.exitcode)
                raise ComposeError(name, "could not be decoded (the decoder failed on this file)") from error
            except BaseException:  # cancelled with its merge: the worker may be deep in a decode
                self._discard(worker)
                raise
            self._busy.discard(worker)
            self._idle.append(worker)
        if status == "ok":
            return value  # type: ignore[return-value]
        if status == "error" and isinstance(value, ComposeError):
            raise value
        raise RuntimeError(f"decode worker failed: {value}")

    def _start(self) -> _Worker:
        parent, child = self._context.Pipe()
        from .decode_worker import serve  # imported here: the parent never needs Pillow's plugins for this

        process = self._context.Process(target=serve, args=(child,), name="mergebot-decode", daemon=True)
        process.start()
        child.close()
        return _Worker(process, parent)

    def _discard(self, worker: _Worker) -> None:
        """Stop ``worker`` and fork its replacement in the background, ready for the next file."""
        self._busy.discard(worker)
        worker.kill()
        try:
            replacement = asyncio.get_running_loop().run_in_executor(self._io, self._start)
        except RuntimeError:  # shutting down: no replacement needed
            return
        replacement.add_done_callback(self._keep_replacement)

    def _keep_replacement(self, started: asyncio.Future[_Worker]) -> None:
        if started.cancelled() or started.exception() is not None:
            return  # the next call starts one itself
        worker = started.result()
        if self._closed:
            worker.kill()
        else:
            self._idle.append(worker)

    def close(self) -> None:
        """Stop every worker (tests and benchmarks; at exit daemonic workers are stopped anyway)."""
        self._closed = True
        for worker in (*self._idle, *self._busy):
            worker.kill()
        self._idle.clear()
        self._busy.clear()


_lanes_lock = threading.Lock()
_threads: _ThreadLane | None = None
_processes: ProcessLane | None = None


def _thread_lane() -> _ThreadLane:
    global _threads
    with _lanes_lock:
        if _threads is None:
            _threads = _ThreadLane(IMAGE_THREADS)
        return _threads


def process_lane() -> ProcessLane:
    """The process-wide decode workers, made on first use."""
    global _processes
    with _lanes_lock:
        if _processes is None:
            _processes = ProcessLane()
        return _processes


async def run_image_work(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run trusted ``fn(*args, **kwargs)`` (a sheet, a result) on the image threads and await its result."""
    return await _thread_lane().run(TRUSTED, functools.partial(fn, *args, **kwargs))


async def normalize_upload(
    data: bytes,
    name: str,
    *,
    owner: Hashable,
    budget_s: float,
    max_side: int,
    max_pixels: int,
    keep_quick: bool = False,
) -> Normalized:
    """``compose.normalize`` for a file someone uploaded, where it cannot hold up anyone else.

    Quick files stay on the threads; the rest go to a worker process and are refused
    with DecodeTooSlow past ``budget_s``. With ``keep_quick`` a quick file is kept as it came
    (``compose.received``: its header checked, no pixel decoded), for a sheet built straight
    from it. Raises ComposeError naming ``name``.
    """
    quick = functools.partial(_if_quick, data, name, max_side=max_side, max_pixels=max_pixels, keep=keep_quick)
    made = await _thread_lane().run(owner, quick)
    if made is not None:
        return made
    return await process_lane().run(owner, budget_s, name, normalize, data, name, max_side, max_pixels)


def _if_quick(data: bytes, name: str, *, max_side: int, max_pixels: int, keep: bool) -> Normalized | None:
    """The file kept (``keep``) or normalised here when it is known to decode quickly, else None."""
    info = probe_if_light(data, name, max_pixels)
    if info is None:
        return None
    return as_received(data, info) if keep else normalize(data, name, max_side, max_pixels)
