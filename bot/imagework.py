"""Where CPU-bound image work runs: a small dedicated thread pool.

Pillow releases the GIL while it decodes and resizes, but many threads trading
it back and forth starve the event loop: normalising 16 photos of 12 MP in the
default pool (6 threads here) stalled the loop for 170 ms; two threads keep the
worst stall under 20 ms at nearly the same throughput (benchmarks/bench_pipeline).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

IMAGE_THREADS = 2

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(IMAGE_THREADS, thread_name_prefix="mergebot-image")
        return _pool


async def run_image_work(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` in the image pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor(), functools.partial(fn, *args, **kwargs))
