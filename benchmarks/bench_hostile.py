"""What hostile files cost after the fix, against a normal photo in the same run.

    python -m benchmarks.bench_hostile

1. What a worker costs when one is used: the first file sent to a worker (forkserver
   and worker start) and the next ones, against the same file decoded on a thread.
2. Per file, each decoded in a fresh process (``compose.normalize`` to 1536 px, as the
   bot does): time and peak memory above the process's resting size, for the review's
   hostile files (issue 8), files just under their format's cap, and a 12 MP photo.
3. Isolation: how long a person's merge of one photo (decoded on the threads) and of one
   5 MP PNG (decoded in a worker) takes alone, and while someone else's merge of eight
   slow 49 MP files is decoding.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.photos import photo_jpeg
from tests.hostile import files

ROOT = Path(__file__).resolve().parents[1]

CASES: list[tuple[str, str, Callable[[], bytes]]] = [
    ("photo.jpg", "12 MP photo, baseline JPEG q90 (the baseline)", lambda: photo_jpeg(0)),
    ("scans.jpg", "progressive JPEG, 7000x7000, last scan 200 times more", lambda: files.repeated_scans(repeats=200)),
    ("scans50.jpg", "progressive JPEG, 7000x7000, 60 scans", lambda: files.repeated_scans(repeats=50)),
    ("depth.png", "16-bit PNG, 7000x7000", files.sixteen_bit_png),
    ("float.tif", "float TIFF, 7000x7000", files.float_tiff),
    ("tiny.avif", "AVIF, 7000x7000", files.avif),
    ("palette.gif", "GIF, 7000x7000", files.gif),
    ("rgba.png", "RGBA PNG, 5000x5000 (under its cap)", lambda: files.png((5000, 5000), "RGBA")),
    ("float25.tif", "float TIFF, 5000x5000 (under its cap)", lambda: files.float_tiff((5000, 5000))),
    ("photo.webp", "WebP, 2600x2600 (under its cap)", lambda: files.webp((2600, 2600))),
    ("photo.avif", "AVIF, 3400x3400 (under its cap)", lambda: files.avif((3400, 3400))),
    ("progressive.jpg", "progressive JPEG, 5200x5200 (under its cap)", lambda: files.progressive_jpeg((5200, 5200))),
]


def per_file(folder: Path) -> None:
    print("\n2. one file per fresh process: normalize() to 1536 px")
    print(f"{'file':<16} {'on disk':>9} {'time':>8} {'peak above rest':>16}  outcome")
    for name, what, make in CASES:
        path = folder / name
        path.write_bytes(make())
        run = subprocess.run(
            [sys.executable, "-m", "tests.hostile.child", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        cost = json.loads(run.stdout)
        outcome = "decoded" if "size" in cost else str(cost["error"]).split(": ", 1)[1]
        size_kb = path.stat().st_size / 1024
        print(f"{name:<16} {size_kb:>7.0f}KB {cost['seconds']:>7.2f}s {cost['peak_mb']:>13.0f} MB  {outcome}")
        print(f"{'':<16} {what}")


async def isolation() -> None:
    from bot.fetch import Fetcher
    from bot.gather import gather
    from bot.imagework import process_lane
    from bot.model import ImageSource
    from bot.settings import Limits, Settings

    print("\n3. another person's merge while eight slow 49 MP files decode (each under the 10 s budget)")
    fetcher = Fetcher(Settings())
    limits = Limits()
    photo = [ImageSource(name="photo.jpg", data=photo_jpeg(0))]
    screenshot = [ImageSource(name="screenshot.png", data=files.png((2500, 2000), "RGB"))]
    slow = [
        ImageSource(name=f"slow-{index}.{'png' if index % 2 else 'gif'}", data=make())
        for index, make in enumerate([files.sixteen_bit_png, files.gif] * 4)
    ]

    async def timed(sources: list[ImageSource], owner: str) -> float:
        started = time.perf_counter()
        await gather(sources, fetcher, limits, owner=owner)
        return time.perf_counter() - started

    await timed(screenshot, "warm-up")  # start the workers: measured in part 3
    alone = {name: await timed(sources, "ann") for name, sources in (("photo", photo), ("png", screenshot))}
    hostile = asyncio.create_task(timed(slow, "mallory"))
    await asyncio.sleep(0.5)
    during = {name: await timed(sources, "ann") for name, sources in (("photo", photo), ("png", screenshot))}
    hostile_s = await hostile
    await fetcher.aclose()
    for name, label in (("photo", "12 MP photo (threads)"), ("png", "5 MP PNG (worker)")):
        ratio = during[name] / alone[name]
        print(f"  {label:<24} alone {alone[name]:5.2f} s   during {during[name]:5.2f} s   ({ratio:.1f}x)")
    print(f"  the slow merge itself: {hostile_s:.1f} s for eight files")
    process_lane().close()


async def isolation_cost() -> None:
    from bot.imagework import ProcessLane
    from compose import normalize

    print("1. what a worker costs: the same 5 MP PNG in a worker and on a thread")
    data = files.png((2500, 2000), "RGB")
    await asyncio.to_thread(normalize, data, "x.png", 1536)  # Pillow's plugins loaded on both sides
    started = time.perf_counter()
    await asyncio.to_thread(normalize, data, "x.png", 1536)
    thread_s = time.perf_counter() - started
    lane = ProcessLane()
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        await lane.run("ann", 60.0, "x.png", normalize, data, "x.png", 1536)
        timings.append(time.perf_counter() - started)
    lane.close()
    first, *then = timings
    print(f"  on a thread {thread_s:.3f} s; in a worker: first {first:.3f} s (starts it), then", end=" ")
    print(" and ".join(f"{seconds:.3f} s" for seconds in then))
    print("  light files (baseline JPEG of any size; other formats under 1 MB and 4 MP, not TIFF) never start a worker")


def main() -> None:
    asyncio.run(isolation_cost())  # first: the forkserver is started once per process
    with tempfile.TemporaryDirectory() as folder:
        per_file(Path(folder))
    asyncio.run(isolation())


if __name__ == "__main__":
    main()
