"""Gather one merge's files through the real image lanes in a fresh process; print what it cost, as JSON.

    python -m tests.hostile.merge_child FILE...

``main_peak_mb`` is this process's high-water mark above its resting size (files
read, workers started); ``worker_peak_mb`` the highest a decode worker rose above
its own resting size.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.fetch import Fetcher
from bot.gather import gather
from bot.imagework import process_lane
from bot.model import ImageSource
from bot.settings import Limits, Settings
from compose import normalize
from tests.hostile.child import resident_mb
from tests.hostile.files import png


def status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0]) / 1024
    raise RuntimeError(f"{field} missing for {pid}")


async def main(sources: list[ImageSource]) -> None:
    lane = process_lane()
    await lane.run("warm-up", 60.0, "warm.png", normalize, png((64, 64)), "warm.png")
    (pid,) = lane.worker_pids()
    worker_resting = status_mb(pid, "VmRSS")
    resting = resident_mb("VmRSS")
    settings = Settings()
    fetcher = Fetcher(settings)
    try:
        gathered = await gather(sources, fetcher, Limits(decode_timeout_s=120.0), owner="mallory")
    finally:
        await fetcher.aclose()
    worker_peak = max(status_mb(worker, "VmHWM") for worker in lane.worker_pids()) - worker_resting
    print(
        json.dumps(
            {
                "names": [item.source.name for item in gathered.images],
                "warnings": list(gathered.warnings),
                "main_peak_mb": resident_mb("VmHWM") - resting,
                "worker_peak_mb": worker_peak,
            }
        )
    )
    lane.close()


if __name__ == "__main__":
    asyncio.run(main([ImageSource(name=Path(path).name, data=Path(path).read_bytes()) for path in sys.argv[1:]]))
