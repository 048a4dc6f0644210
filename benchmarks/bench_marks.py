"""Benchmark of find_marked_region on a 1536x1024 result, against decoding the two pictures alone.

    python -m benchmarks.bench_marks

Prints figures, asserts nothing. CPU time of one process (``time.process_time``), best of
``--repeat`` runs, so other load on the machine shows less than in wall time. The result is a
photo-like 1536x1024 PNG (tests/compose/samples.photo); the marked copy is that picture with a
3-px loop and a filled blob drawn on it, posted as a JPEG (quality 80) at full size and at half
size. The baseline is what no implementation can skip: decoding both files once.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw

from compose.marks import edit_mask_png, find_marked_region, outline
from tests.compose import samples

SIZE = (1536, 1024)


def best_cpu(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def decode_both(result: bytes, marked: bytes) -> None:
    for data in (result, marked):
        with Image.open(io.BytesIO(data)) as image:
            image.load()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    picture = samples.photo(*SIZE, seed=3)
    result = samples.encode(picture, "PNG")
    copy = picture.copy()
    draw = ImageDraw.Draw(copy)
    draw.ellipse((400, 300, 800, 650), outline=(255, 0, 255), width=3)
    draw.ellipse((1000, 600, 1300, 900), fill=(255, 255, 0))
    for label, scale in (("full size", 1.0), ("half size", 0.5)):
        posted = copy.resize((round(SIZE[0] * scale), round(SIZE[1] * scale)), Image.Resampling.LANCZOS)
        marked = samples.encode(posted, "JPEG", quality=80)
        baseline = best_cpu(lambda marked=marked: decode_both(result, marked), repeat)
        found = best_cpu(lambda marked=marked: find_marked_region(result, marked), repeat)
        region = find_marked_region(result, marked)
        mask = best_cpu(lambda region=region: edit_mask_png(region), repeat)
        shown = best_cpu(lambda region=region: outline(result, region), repeat)
        print(
            f"marked copy at {label}: find_marked_region {found * 1000:.0f} ms CPU "
            f"({found / baseline:.1f}x decoding both files, {baseline * 1000:.0f} ms); "
            f"edit_mask_png {mask * 1000:.0f} ms; outline {shown * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
