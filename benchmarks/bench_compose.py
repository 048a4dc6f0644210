"""Benchmark of compose_sheet against a naive Pillow baseline, run as one command.

    python -m benchmarks.bench_compose            (or: python benchmarks/bench_compose.py)

Prints figures, asserts nothing. Measures, each variant in its own fresh subprocess so peak
memory is honest (ru_maxrss covers Pillow's C buffers, which tracemalloc cannot see):

* 16 photos of 12 MP (4000x3000 JPEG, quality 90) into a 2048x2048 JPEG sheet: wall time and
  peak memory for ``compose_sheet`` and for the naive way (open, convert, full-size LANCZOS
  resize, paste, same boxes, same encoder), and the speed-up between the two in this run;
* the per-reference cost for small inputs (1 MP PNGs): sheets of 1, 4, 8 and 16 references,
  least-squares slope (per reference) and intercept (fixed cost per sheet).

The photos are synthetic but photo-like (benchmarks/photos.py, shared with bench_pipeline) and
cached under benchmarks/.cache/ (gitignored), so only the first run pays for making them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image

from compose import Item, SheetInput, arrange, compose_sheet, sheet_label
from compose.encode import encode

PHOTO_COUNT = 16
PHOTO_SIZE = (4000, 3000)
SHEET_SIZE = (2048, 2048)
SMALL_SIZE = (1155, 866)  # 1.0 MP
SMALL_COUNTS = (1, 4, 8, 16)
ROUNDS = 3


def photos() -> list[Path]:
    from benchmarks.photos import photo_path  # numpy: kept out of the measured child processes

    return [photo_path(index, *PHOTO_SIZE, "JPEG", 90) for index in range(PHOTO_COUNT)]


def small_pngs() -> list[Path]:
    from benchmarks.photos import photo_path

    return [photo_path(index, *SMALL_SIZE, "PNG") for index in range(max(SMALL_COUNTS))]


# --- the two ways of building the sheet (run inside the child process) ---


def run_compose(datas: list[bytes], threads: int | None = None) -> bytes:
    refs = [SheetInput(data, sheet_label(index)) for index, data in enumerate(datas)]
    return compose_sheet(refs, size=SHEET_SIZE, fmt="jpeg", threads=threads).data


def run_compose_one_thread(datas: list[bytes]) -> bytes:
    return run_compose(datas, threads=1)


def run_naive(datas: list[bytes]) -> bytes:
    """What one writes first: full decode, convert, full-size LANCZOS resize, paste; same boxes and encoder."""
    pictures_sizes = []
    for data in datas:
        with Image.open(io.BytesIO(data)) as image:
            pictures_sizes.append(image.size)
    boxes = arrange([Item(width / height) for width, height in pictures_sizes], SHEET_SIZE).boxes
    canvas = Image.new("RGB", SHEET_SIZE, (242, 242, 242))
    for data, box in zip(datas, boxes, strict=True):
        picture = Image.open(io.BytesIO(data)).convert("RGB")
        canvas.paste(picture.resize((box.width, box.height), Image.Resampling.LANCZOS), (box.x0, box.y0))
    return encode(canvas, "jpeg", compact=False)


VARIANTS = {"naive": run_naive, "compose": run_compose, "compose-1t": run_compose_one_thread}


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process from /proc; unlike ru_maxrss, VmHWM starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def child_memory(variant: str, paths: list[str]) -> dict[str, object]:
    """One run of ``variant`` in this fresh process: its peak memory."""
    datas = [Path(path).read_bytes() for path in paths]
    Image.init()
    with_inputs = _memory_mb("VmHWM")
    tracemalloc.start()
    VARIANTS[variant](datas)
    _current, heap_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "peak_rss_mb": _memory_mb("VmHWM"),
        "rss_with_inputs_mb": with_inputs,
        "py_heap_peak_mb": heap_peak / 2**20,
    }


def child_timing(variants: list[str], paths: list[str], rounds: int) -> dict[str, list[float]]:
    """Wall times of ``variants`` run in turns (so a busy machine slows them alike), after one warm-up each."""
    datas = [Path(path).read_bytes() for path in paths]
    for variant in variants:
        VARIANTS[variant](datas[:1])
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    for _ in range(rounds):
        for variant in variants:
            started = time.perf_counter()
            VARIANTS[variant](datas)
            times[variant].append(time.perf_counter() - started)
    return times


def _child(arguments: list[str]) -> object:
    """Run this module as a fresh interpreter with ``arguments`` and read its JSON answer."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_compose", *arguments],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_memory(variant: str, paths: list[Path]) -> dict[str, float]:
    answer = _child(["--memory", variant, *map(str, paths)])
    assert isinstance(answer, dict)
    return {key: float(value) for key, value in answer.items()}


def measure_times(variants: list[str], paths: list[Path], rounds: int) -> dict[str, list[float]]:
    answer = _child(["--timing", ",".join(variants), "--rounds", str(rounds), *map(str, paths)])
    assert isinstance(answer, dict)
    return {key: [float(value) for value in values] for key, values in answer.items()}


def _fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x in xs)
    return slope, mean_y - slope * mean_x


def main() -> int:
    print("preparing inputs (cached under benchmarks/.cache/) ...", flush=True)
    big = photos()
    small = small_pngs()
    total_mb = sum(path.stat().st_size for path in big) / 2**20
    print(
        f"\n16 photos {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG q90 ({total_mb:.1f} MB in all) -> "
        f"{SHEET_SIZE[0]}x{SHEET_SIZE[1]} JPEG sheet, {os.cpu_count()} CPUs"
    )
    variants = list(VARIANTS)
    times = measure_times(variants, big, ROUNDS)
    memory = {variant: measure_memory(variant, big) for variant in variants}
    print(f"wall time over {ROUNDS} interleaved rounds; memory from one run in a fresh process per variant")
    print(
        f"{'variant':<11}{'median s':>9}{'best s':>8}{'peak RSS MB':>13}{'with inputs':>13}{'work MB':>9}{'py heap':>9}"
    )
    for variant in variants:
        figures = memory[variant]
        peak, base = figures["peak_rss_mb"], figures["rss_with_inputs_mb"]
        print(
            f"{variant:<11}{statistics.median(times[variant]):>9.2f}{min(times[variant]):>8.2f}"
            f"{peak:>13.1f}{base:>13.1f}{peak - base:>9.1f}{figures['py_heap_peak_mb']:>9.1f}"
        )
    naive = statistics.median(times["naive"])
    for variant in ("compose", "compose-1t"):
        ratio = naive / statistics.median(times[variant])
        best = min(times["naive"]) / min(times[variant])
        print(f"speed-up {variant} over naive: {ratio:.1f}x median, {best:.1f}x best-of (target >= 6x)")
    print(
        f"compose peak RSS {memory['compose']['peak_rss_mb']:.1f} MB, whole process with the "
        f"{total_mb:.0f} MB of inputs held in memory (target <= 120 MB)"
    )
    print("  work MB = peak minus the process with inputs loaded; py heap = tracemalloc (Python objects only)")
    print("  compose decodes on its default threads (min(4, CPUs)); compose-1t on one")

    print(f"\nsmall inputs: 1 MP PNGs ({SMALL_SIZE[0]}x{SMALL_SIZE[1]}) -> 2048x2048 JPEG sheet, one thread")
    points = []
    for count in SMALL_COUNTS:
        measured = measure_times(["compose-1t"], small[:count], 5)["compose-1t"]
        points.append((count, statistics.median(measured)))
        print(f"  {count:>2} refs: {statistics.median(measured) * 1000:7.1f} ms")
    slope, intercept = _fit_line(points)
    print(f"  per reference: {slope * 1000:.1f} ms; fixed cost per sheet: {intercept * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    parser.add_argument("--timing", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.memory:
        print(json.dumps(child_memory(arguments.memory, arguments.paths)))
        sys.exit(0)
    if arguments.timing:
        print(json.dumps(child_timing(arguments.timing.split(","), arguments.paths, arguments.rounds)))
        sys.exit(0)
    sys.exit(main())
