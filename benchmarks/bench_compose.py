"""The reference sheet as a person gets it, measured from outside: whole processes, in one run.

    python -m benchmarks.bench_compose [--rounds 7] [--sets photos,chat,pngs]

Prints figures, asserts nothing. For each set of files (16 photos of 12 MP, 4 chat-sized photos,
16 PNGs of 1 MP) it runs each variant as its own fresh process, in interleaved rounds (so a busy
machine slows them alike), and reports the median wall time, the ratio against the naive baseline
of the same run, the CPU seconds of all its threads, the ratio those would give if they were spread
perfectly over the machine's cores (what no variant can beat here, however it is scheduled), and the
peak memory (the child's ru_maxrss and CPU times, from wait4):

* naive: what one writes first with Pillow: full decode, convert, LANCZOS resize to the panel,
  paste, save the sheet as PNG at Pillow's default compression (same boxes as mergebot);
* cli: ``mergebot merge FILES --prompt x --mode collage --dry-run --out sheet.png``, the path a
  person takes when the sheet alone is sent (start-up, reading and checking the files, labels, the
  real service on a throwaway store, the sheet, the PNG file, the JSON request);
* cli-auto: the same in the default mode, ``auto``: within the model's 16 images each reference
  goes as its own image, normalised for it, so this is the time to a ready request when the sheet
  alone is not the request;
* compose: a process that reads the files, calls ``compose_sheet`` and writes its JPEG;
* libvips: ``thumbnail_buffer`` per file into its panel, ``insert`` into the canvas, PNG at
  compression 1 (only when pyvips is installed: ``pip install pyvips pyvips-binary``);
* floor: decode each file at the smallest scale its format allows (JPEG DCT scaling to 1/8,
  PNG in full), nothing else: what no variant can avoid.

The photos are synthetic but photo-like (benchmarks/photos.py) and cached under
benchmarks/.cache/ (gitignored), so only the first run pays for making them.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SHEET_SIDE = 2048
SETS = {
    # name: (description, count, width, height, format, JPEG quality)
    "photos": ("16 photos of 12 MP (4000x3000 JPEG q90)", 16, 4000, 3000, "JPEG", 90),
    "chat": ("4 chat-sized photos (1500x1000 JPEG q85)", 4, 1500, 1000, "JPEG", 85),
    "pngs": ("16 PNGs of 1 MP (1155x866)", 16, 1155, 866, "PNG", 0),
}
VARIANTS = ("naive", "cli", "cli-auto", "compose", "libvips", "floor")
ROUNDS = 7


def inputs(name: str) -> list[Path]:
    """The set's files, made (and cached) by a child process: the parent stays small, because a child
    started from it counts the parent's peak memory in its own (Linux keeps ``ru_maxrss`` across exec)."""
    _what, count, width, height, fmt, quality = SETS[name]
    make = (
        "import sys\nfrom benchmarks.photos import photo_path\n"
        f"for seed in range({count}): print(photo_path(seed, {width}, {height}, {fmt!r}, {quality}))"
    )
    made = subprocess.run([sys.executable, "-c", make], cwd=ROOT, capture_output=True, text=True, check=True)
    return [Path(line) for line in made.stdout.splitlines()]


# --- what the measured child processes run (python -m benchmarks.bench_compose --run VARIANT OUT FILES) ---


def _boxes(paths: list[str]) -> list[tuple[int, int, int, int]]:
    """mergebot's own layout for these files on a 2048-px square, so every variant fills the same panels."""
    from PIL import Image

    from compose.layout import Item, arrange

    sizes = []
    for path in paths:
        with Image.open(path) as image:
            sizes.append(image.size)
    items = [Item(width / height, native=(width, height)) for width, height in sizes]
    return [box.as_tuple() for box in arrange(items, (SHEET_SIDE, SHEET_SIDE)).boxes]


def run_naive(out: str, paths: list[str]) -> None:
    from PIL import Image

    canvas = Image.new("RGB", (SHEET_SIDE, SHEET_SIDE), (242, 242, 242))
    for path, (x0, y0, x1, y1) in zip(paths, _boxes(paths), strict=True):
        with Image.open(path) as image:
            picture = image.convert("RGB").resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
        canvas.paste(picture, (x0, y0))
    canvas.save(out)


def run_compose(out: str, paths: list[str]) -> None:
    from compose import SheetInput, compose_sheet, sheet_label

    refs = [SheetInput(Path(path).read_bytes(), sheet_label(index)) for index, path in enumerate(paths)]
    Path(out).write_bytes(compose_sheet(refs, size=(SHEET_SIDE, SHEET_SIDE), fmt="jpeg").data)


def run_libvips(out: str, paths: list[str]) -> None:
    import pyvips

    canvas = pyvips.Image.black(SHEET_SIDE, SHEET_SIDE, bands=3) + 242
    for path, (x0, y0, x1, y1) in zip(paths, _boxes(paths), strict=True):
        picture = pyvips.Image.thumbnail_buffer(Path(path).read_bytes(), x1 - x0, height=y1 - y0, size="force")
        canvas = canvas.insert(picture.extract_band(0, n=3) if picture.bands > 3 else picture, x0, y0)
    canvas.cast("uchar").pngsave(out, compression=1)


def run_floor(out: str, paths: list[str]) -> None:
    from PIL import Image

    for path in paths:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (image.width // 8, image.height // 8))
            image.load()


RUNNERS: dict[str, Callable[[str, list[str]], None]] = {
    "naive": run_naive,
    "compose": run_compose,
    "libvips": run_libvips,
    "floor": run_floor,
}


# --- the parent: launch, time and weigh each process ---


def libvips_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import pyvips"], capture_output=True, check=False)
    return probe.returncode == 0


def _mergebot() -> list[str]:
    script = Path(sys.executable).with_name("mergebot")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


def _command(variant: str, out: Path, paths: list[Path]) -> list[str]:
    files = [str(path) for path in paths]
    if variant in ("cli", "cli-auto"):
        mode = ["--mode", "collage"] if variant == "cli" else []
        return [*_mergebot(), "merge", *files, "--prompt", "x", *mode, "--dry-run", "--out", str(out)]
    return [sys.executable, "-m", "benchmarks.bench_compose", "--run", variant, str(out), *files]


def measure(variant: str, paths: list[Path], scratch: Path) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user and system, every thread) and peak RSS in MB of one fresh
    process running ``variant``."""
    out = scratch / ("sheet.jpg" if variant == "compose" else "sheet.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MERGEBOT_DATA_DIR": str(scratch / "data")}
    # An installed package has its bytecode compiled (pip does it): measure that, not a recompile per start.
    env = {
        key: value
        for key, value in env.items()
        if not key.startswith(("OPENAI_", "DISCORD_", "SLACK_")) and key != "PYTHONDONTWRITEBYTECODE"
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        _command(variant, out, paths), cwd=scratch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if status != 0:
        raise RuntimeError(f"{variant} failed: {stderr.strip()[-400:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench_set(name: str, rounds: int, variants: list[str]) -> None:
    paths = inputs(name)
    megabytes = sum(path.stat().st_size for path in paths) / 2**20
    print(f"\n{SETS[name][0]}, {megabytes:.1f} MB of files -> {SHEET_SIDE}-px sheet, {rounds} rounds", flush=True)
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    cpus: dict[str, list[float]] = {variant: [] for variant in variants}
    peaks: dict[str, list[float]] = {variant: [] for variant in variants}
    with tempfile.TemporaryDirectory(prefix="bench-compose-") as folder:
        scratch = Path(folder)
        for variant in variants:  # warm the page cache and Python's bytecode cache once
            measure(variant, paths[:1], scratch)
        for _ in range(rounds):
            for variant in variants:
                elapsed, cpu, peak = measure(variant, paths, scratch)
                times[variant].append(elapsed)
                cpus[variant].append(cpu)
                peaks[variant].append(peak)
            shutil.rmtree(scratch / "data", ignore_errors=True)
    naive = statistics.median(times["naive"])
    cores = os.cpu_count() or 1
    print(f"  {'variant':<13}{'median s':>9}{'best s':>8}{'vs naive':>10}{'CPU s':>7}{'CPU bound':>11}{'peak MB':>9}")
    for variant in variants:
        median = statistics.median(times[variant])
        cpu = statistics.median(cpus[variant])
        # No schedule on these cores finishes the work in less than its CPU time over the core count.
        bound = naive / max(cpu / cores, 1e-9)
        print(
            f"  {variant:<13}{median:>9.2f}{min(times[variant]):>8.2f}{naive / median:>9.1f}x"
            f"{cpu:>7.2f}{bound:>10.1f}x{max(peaks[variant]):>9.0f}"
        )
    print(f"  (CPU bound: the ratio the variant's CPU seconds would give spread perfectly on {cores} cores)")
    if "cli" in times and "cli-auto" in times:
        ratio = statistics.median(times["cli-auto"]) / statistics.median(times["cli"])
        print(f"  each reference as its own image: {ratio:.2f}x the time of the sheet alone (target <= 1.5x)")


def startup(rounds: int) -> None:
    bare, helped = [], []
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([*_mergebot(), "--help"], capture_output=True, check=True, cwd=ROOT, env=env)  # compile once
    for _ in range(rounds):
        for runs, argv in ((bare, [sys.executable, "-c", "pass"]), (helped, [*_mergebot(), "--help"])):
            started = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=True, cwd=ROOT, env=env)
            runs.append(time.perf_counter() - started)
    print(
        f"\nstart-up: `mergebot --help` {statistics.median(helped):.3f} s median "
        f"(bare `python -c pass` {statistics.median(bare):.3f} s; target < 0.15 s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    arguments = parser.parse_args()
    variants = [variant for variant in VARIANTS if variant != "libvips" or libvips_available()]
    print(f"{os.cpu_count()} CPUs; variants: {', '.join(variants)}", flush=True)
    if "libvips" not in variants:
        print("(libvips skipped: pyvips is not installed)")
    startup(arguments.rounds)
    for name in arguments.sets.split(","):
        bench_set(name, arguments.rounds, variants)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\n(this benchmark's own peak memory: {own:.0f} MB; no child's figure can read lower)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--run":
        RUNNERS[sys.argv[2]](sys.argv[3], sys.argv[4:])
        sys.exit(0)
    sys.exit(main())
