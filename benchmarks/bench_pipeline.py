"""The bot's own cost per merge, its throughput, and event-loop stalls.

    python -m benchmarks.bench_pipeline [--merges 40]

1. Cost per merge, everything but the model's time: 4 references of 1 MP through the
   whole service (fetch, normalise, compose, request, stream, store) against the local
   OpenAI double answering at once, in a separate process so its work is not ours.
   Baseline, same run: a bare ``images.edit`` call with a ready-made sheet to the same
   double, i.e. the model's share. Overhead = merge − bare call, p50 and p95.
2. Merges completed per second by one process (global concurrency 4).
3. The event loop's longest stall while 16 photos of 12 MP go through the service (gathered,
   composed into a sheet, stored; dry-run generator), measured by a 1 ms ticker (target: under 50 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from benchmarks.photos import photo_jpeg
from bot.model import ImageSource, MergeOptions, MergeRequest, Mode, Origin, Outcome
from bot.service import MergeService
from bot.settings import Limits, Secret, Settings
from tests.imagegen import png

KEY = "sk-bench-not-a-real-key"


def _serve_double(port_out: multiprocessing.connection.Connection) -> None:
    from tests.doubles.openai_double import OpenAIDouble

    async def main() -> None:
        async with OpenAIDouble() as api:
            port_out.send(api.base_url)
            await asyncio.Event().wait()

    asyncio.run(main())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def timed(calls: int, call: Callable[[int], Awaitable[object]]) -> list[float]:
    """Wall time of ``calls`` sequential calls."""
    durations = []
    for index in range(calls):
        start = time.perf_counter()
        await call(index)
        durations.append(time.perf_counter() - start)
    return durations


async def cost_per_merge(base_url: str, merges: int, data_dir: Path) -> None:
    import openai

    settings = Settings(
        data_dir=data_dir,
        openai_api_key=Secret(KEY),
        openai_base_url=base_url,
        limits=Limits(per_user_daily=10**6, per_user_concurrency=8, workspace_daily_cost_usd=10**6),
    )
    service = await MergeService.open(settings)
    refs = tuple(ImageSource(name=f"{i}.png", data=png(1155, 866, seed=i)) for i in range(4))  # 1 MP each

    async def merge(index: int) -> Outcome:
        origin = Origin("bench", "w", "c", f"user{index}")
        request = MergeRequest(origin, refs, MergeOptions(prompt=f"merge number {index}", size="1024x1024"))
        outcome = await service.merge(request)
        if not outcome.ok or outcome.job is None:
            raise RuntimeError(outcome.view.text)
        return outcome

    warm = await merge(-1)  # warm-up: imports, connection pool, fonts
    sheet = await service.sheet_image(warm.job) if warm.job else None
    assert sheet is not None
    client = openai.AsyncOpenAI(api_key=KEY, base_url=base_url)

    async def bare(index: int) -> None:
        stream = await client.images.edit(
            image=("reference-sheet.jpg", sheet, "image/jpeg"),
            prompt=f"merge number {index}",
            model="gpt-image-2",
            size="1024x1024",
            stream=True,
            partial_images=2,
        )
        async for _ in stream:
            pass

    await bare(-1)
    merge_times = await timed(merges, merge)
    bare_times = await timed(merges, bare)
    print(f"cost per merge ({merges} merges, 4 refs x 1 MP, streaming 2 partials)")
    print(
        f"  whole merge    p50 {1000 * statistics.median(merge_times):7.1f} ms   p95 "
        f"{1000 * percentile(merge_times, 0.95):7.1f} ms"
    )
    print(
        f"  bare API call  p50 {1000 * statistics.median(bare_times):7.1f} ms   p95 "
        f"{1000 * percentile(bare_times, 0.95):7.1f} ms   (baseline: the double's answer)"
    )
    p50 = statistics.median(merge_times) - statistics.median(bare_times)
    p95 = percentile(merge_times, 0.95) - percentile(bare_times, 0.95)
    print(
        f"  bot overhead   p50 {1000 * p50:7.1f} ms   p95 {1000 * p95:7.1f} ms   "
        f"(whole merge = {statistics.median(merge_times) / statistics.median(bare_times):.2f}x the bare call)"
    )

    start = time.perf_counter()
    await asyncio.gather(*(merge(i) for i in range(merges)))
    elapsed = time.perf_counter() - start
    print(
        f"throughput: {merges / elapsed:.1f} merges/s ({merges} merges, concurrency "
        f"{settings.limits.global_concurrency}, one process, 2 cores)"
    )
    await client.close()
    await service.aclose()


async def loop_stall(data_dir: Path) -> None:
    """The whole service (gather, compose, store) with the dry-run generator: the path a merge takes."""
    from bot.dryrun import DryRunGenerator

    photos = tuple(ImageSource(name=f"photo{i}.jpg", data=photo_jpeg(i)) for i in range(16))
    settings = Settings(data_dir=data_dir, openai_api_key=Secret(KEY), openai_base_url="http://127.0.0.1:9/v1")
    service = await MergeService.open(settings, generator=DryRunGenerator())
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - before - 0.001)

    tick = asyncio.create_task(ticker())
    start = time.perf_counter()
    request = MergeRequest(Origin("bench", "w", "c", "u"), photos, MergeOptions(prompt="merge", mode=Mode.COLLAGE))
    outcome = await service.merge(request)
    elapsed = time.perf_counter() - start
    stop.set()
    await tick
    sheet = await service.sheet_image(outcome.job) if outcome.job else None
    await service.aclose()
    if not outcome.ok or sheet is None:
        raise RuntimeError(outcome.view.text)
    print(
        f"event loop while gathering, composing and storing 16 x 12 MP (sheet {len(sheet) // 1024} KiB, "
        f"{elapsed:.2f} s): longest stall {1000 * worst:.1f} ms (target < 50 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merges", type=int, default=40)
    args = parser.parse_args()
    receiver, sender = multiprocessing.Pipe(duplex=False)
    double = multiprocessing.get_context("spawn").Process(target=_serve_double, args=(sender,), daemon=True)
    double.start()
    if not receiver.poll(60):
        double.terminate()
        raise SystemExit("the OpenAI double did not start within 60 s")
    base_url = receiver.recv()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(cost_per_merge(base_url, args.merges, Path(tmp) / "a"))
            asyncio.run(loop_stall(Path(tmp) / "b"))
    finally:
        double.terminate()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
