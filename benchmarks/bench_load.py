"""Load: `mergebot run` (a real subprocess) against a rate-limited Slack and a slow OpenAI.

    python -m benchmarks.bench_load                 # the full run (about 12 minutes)
    python -m benchmarks.bench_load --quick         # the same shape, 3-4 s generations (about 2 minutes)
    python -m benchmarks.bench_load --memory        # the memory-per-slot measure alone (about 5 minutes)

1. Burst: 40 merges from 40 people within 3 s in one channel, concurrency 4, Slack's per-method
   rate limits on (``SlackDouble(rate_limits=True)``), each OpenAI call taking 15-20 s. Prints
   results within the run, platform calls per merge by method, 429s received, time to result
   p50/p90 against the ideal (a 4-slot FIFO fed the same arrivals and the same generation
   times, with zero platform cost), wall time against the ideal, status edits per merge, peak RSS.
   Target: every merge finishes, within 1.3x the ideal wall time, at most 12 status edits per merge.
2. Long queue: 200 merges without rate limits (4-6 s generations, so it ends in minutes):
   peak RSS and status edits per merge.
3. Memory per slot (``--memory`` runs it alone): the same 50 merges at concurrency 4, 16 and 50
   (no rate limits; generations of 5, 15 and 40 s, so every slot is busy at once): peak RSS and
   its growth per extra concurrent generation (target: at most 8 MB).

Every merge has 4 references of about 1 MP (photo-like JPEGs), the bench's "standard load".
The doubles run in this process; the bot's peak RSS is its own (``VmHWM`` of the child).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import os
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks.photos import photo_jpeg
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import ACK_WINDOW_S, APP_TOKEN, BOT_TOKEN, SlackDouble

ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "C0LOAD"
REFERENCES = 4
SETUP_METHODS = {"auth.test", "apps.connections.open"}


@dataclass
class Run:
    """What one load run measured."""

    merges: int
    finished: int
    failed: int
    wall_s: float
    ideal_wall_s: float
    to_result: list[float]
    ideal_to_result: list[float]
    calls: Counter[str]
    limited: Counter[str]
    edits_per_merge: list[int]
    peak_rss_mb: float
    stop_s: float
    stages: dict[str, list[float]]
    generations: list[tuple[float, float]]  # when each merge's API call ran (wall clock)
    acks: list[float]  # how long each mention's Socket Mode acknowledgement took


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def ideal_fifo(arrivals: list[float], service: list[float], slots: int) -> tuple[list[float], float]:
    """Time to result of each merge and the wall time, for a FIFO of ``slots`` with no other cost."""
    free = [0.0] * slots
    done = []
    for arrival, took in zip(sorted(arrivals), service, strict=False):
        start = max(arrival, heapq.heappop(free))
        heapq.heappush(free, start + took)
        done.append((arrival, start + took))
    return [end - arrival for arrival, end in done], max(end for _, end in done) - min(arrivals)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bot_env(data_dir: Path, openai_url: str, slack_url: str, concurrency: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MERGEBOT_", "SLACK_", "OPENAI_", "DISCORD_"))}
    env.update(
        MERGEBOT_DATA_DIR=str(data_dir),
        MERGEBOT_LISTEN_HOST="127.0.0.1",
        MERGEBOT_MEDIA_HOSTS="127.0.0.1",
        MERGEBOT_CONCURRENCY=str(concurrency),
        MERGEBOT_WORKSPACE_DAILY_USD="100000",
        MERGEBOT_USER_DAILY_MERGES="1000",
        MERGEBOT_JOB_TIMEOUT="120",
        MERGEBOT_LOG_LEVEL="warning",
        OPENAI_API_KEY="sk-bench-not-real",
        OPENAI_BASE_URL=openai_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack_url,
        PYTHONPATH=str(ROOT),
    )
    return env


def is_result(message: dict[str, object]) -> bool:
    return "Merged " in str(message.get("text", ""))


def is_failure(message: dict[str, object]) -> bool:
    return str(message.get("text", "")).startswith("⚠️")


async def load_run(
    merges: int,
    *,
    latency_s: tuple[float, float],
    rate_limits: bool,
    concurrency: int = 4,
    burst_s: float = 3.0,
    ack_window_s: float = ACK_WINDOW_S,
) -> Run:
    """Start the bot, send ``merges`` mentions from as many people within ``burst_s``, wait for every answer.
    A mention not acknowledged within ``ack_window_s`` (Slack's 3 s) ends the run."""
    photos = [photo_jpeg(seed, 1152, 864, quality=85) for seed in range(8)]
    async with (
        OpenAIDouble(latency_s=latency_s, seed=merges) as openai_api,
        SlackDouble(rate_limits=rate_limits, ack_window_s=ack_window_s) as slack,
    ):
        threads: list[tuple[str, str]] = []
        for index in range(merges):
            user = f"U{index:05d}"
            slack.add_user(user, f"person{index}")
            root = slack.upload(
                CHANNEL, user, *((f"ref{k}.jpg", photos[(index + k) % len(photos)]) for k in range(REFERENCES))
            )
            threads.append((user, str(root["ts"])))
        with tempfile.TemporaryDirectory(prefix="mergebot-load-") as data:
            env = bot_env(Path(data), openai_api.base_url, slack.api_url, concurrency)
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", env=env, cwd=data, stderr=asyncio.subprocess.PIPE
            )
            try:
                await slack.connected()
                started = time.monotonic()
                sent: dict[str, float] = {}
                acks: list[float] = []
                answered: dict[str, float] = {}
                answered_at: dict[str, float] = {}  # wall clock, beside the store's
                failed: set[str] = set()

                async def watch(thread_ts: str) -> None:
                    def seen() -> bool:
                        messages = slack.bot_messages(CHANNEL, thread_ts)
                        if any(is_result(m) for m in messages):
                            return True
                        if any(is_failure(m) for m in messages):
                            failed.add(thread_ts)
                            return True
                        return False

                    await slack.wait_for(seen, limit_s=3600, what=f"the answer in {thread_ts}")
                    answered[thread_ts] = time.monotonic()
                    answered_at[thread_ts] = time.time()

                watchers = []
                for index, (user, thread_ts) in enumerate(threads):
                    await asyncio.sleep(max(0.0, started + burst_s * index / merges - time.monotonic()))
                    sent[thread_ts] = time.monotonic()
                    await slack.mention(
                        CHANNEL, user, "the subject from A in the scene from B, lit like C", thread_ts=thread_ts
                    )
                    acks.append(time.monotonic() - sent[thread_ts])
                    watchers.append(asyncio.create_task(watch(thread_ts)))
                await asyncio.gather(*watchers)
                wall = max(answered.values()) - min(sent.values())
                rss = peak_rss_mb(process.pid)
                stop_started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.communicate(), 60)
                stop_s = time.monotonic() - stop_started
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
            stages, generations = stage_times(Path(data) / "mergebot.sqlite3", answered_at)
        work = [c for c in slack.calls if c.method not in SETUP_METHODS]
        calls = Counter(c.method for c in work)
        limited = Counter(c.method for c in work if c.error == "ratelimited")
        edits: defaultdict[str, int] = defaultdict(int)
        for call in work:
            if call.method == "chat.update":
                edits[str(call.args.get("ts"))] += 1
        arrivals = [sent[t] - min(sent.values()) for _, t in threads]
        ideal_each, ideal_wall = ideal_fifo(
            arrivals, openai_api.latencies or [statistics.mean(latency_s)] * merges, concurrency
        )
        return Run(
            merges=merges,
            finished=len(answered) - len(failed),
            failed=len(failed),
            wall_s=wall,
            ideal_wall_s=ideal_wall,
            to_result=[answered[t] - sent[t] for _, t in threads],
            ideal_to_result=ideal_each,
            calls=calls,
            limited=limited,
            edits_per_merge=[edits.get(t, 0) for t in status_messages(slack, threads)],
            peak_rss_mb=rss,
            stop_s=stop_s,
            stages=stages,
            generations=generations,
            acks=acks,
        )


def stage_times(
    database: Path, answered_at: dict[str, float]
) -> tuple[dict[str, list[float]], list[tuple[float, float]]]:
    """Where each merge's time went, from the bot's own store (its timings and timestamps):
    gathering, waiting in line for a slot, each stage the slot timed, and posting the result
    (the job's end to its answer seen in the thread); and when each API call ran."""
    stages: defaultdict[str, list[float]] = defaultdict(list)
    generations: list[tuple[float, float]] = []
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT thread_id, created_at, finished_at, timings FROM jobs WHERE finished_at IS NOT NULL")
        for thread_ts, created, finished, raw in rows:
            timings = json.loads(raw)
            for name in ("gather", "compose", "generate"):
                if name in timings:
                    stages[name].append(timings[name])
            if "total" in timings:  # the slot's time: compose, generate and store
                stages["waiting for a slot"].append(finished - created - timings["total"] - timings.get("gather", 0))
            if "generate" in timings:
                generations.append((finished - timings["generate"], finished))
            if thread_ts in answered_at:
                stages["posting the result"].append(answered_at[thread_ts] - finished)
    return dict(stages), generations


def status_messages(slack: SlackDouble, threads: list[tuple[str, str]]) -> list[str]:
    """Each thread's first bot message: its status message."""
    found = []
    for _, thread_ts in threads:
        messages = slack.bot_messages(CHANNEL, thread_ts)
        if messages:
            found.append(str(messages[0]["ts"]))
    return found


def report(title: str, run: Run) -> None:
    print(f"\n== {title}")
    print(f"results within the run: {run.finished}/{run.merges} ({run.failed} failed)")
    print(
        f"wall time: {run.wall_s:.1f} s, ideal {run.ideal_wall_s:.1f} s: "
        f"{run.wall_s / run.ideal_wall_s:.2f}x the ideal (target <= 1.3x)"
    )
    p50, p90 = percentile(run.to_result, 0.5), percentile(run.to_result, 0.9)
    i50, i90 = percentile(run.ideal_to_result, 0.5), percentile(run.ideal_to_result, 0.9)
    print(
        f"time to result p50 {p50:.1f} s (ideal {i50:.1f} s, {p50 / i50:.2f}x), "
        f"p90 {p90:.1f} s (ideal {i90:.1f} s, {p90 / i90:.2f}x)"
    )
    edits = run.edits_per_merge
    print(f"status edits per merge: mean {statistics.mean(edits):.1f}, max {max(edits)} (target <= 12)")
    print(
        f"acknowledgements: p50 {percentile(run.acks, 0.5) * 1000:.0f} ms, "
        f"p99 {percentile(run.acks, 0.99) * 1000:.0f} ms, max {max(run.acks) * 1000:.0f} ms (Slack's window 3 s)"
    )
    print(f"429s received: {sum(run.limited.values())} " + ", ".join(f"{m} {n}" for m, n in run.limited.most_common()))
    print("platform calls per merge: " + ", ".join(f"{m} {n / run.merges:.2f}" for m, n in sorted(run.calls.items())))
    print(f"peak RSS of the bot: {run.peak_rss_mb:.0f} MB; stopped {run.stop_s:.1f} s after SIGTERM")
    print(
        "where a merge's time went (mean / max s): "
        + ", ".join(f"{name} {statistics.mean(v):.1f} / {max(v):.1f}" for name, v in run.stages.items() if v)
    )


# Slots measured for the memory slope, each with the same 50 merges; the generation time is set
# per run so that every slot is busy at once (the peak concurrency printed says whether it was).
MEMORY_MERGES = 50
MEMORY_SLOTS = ((4, (5.0, 6.0)), (16, (15.0, 16.0)), (50, (40.0, 42.0)))


async def memory_per_slot() -> None:
    """Peak RSS at 4, 16 and 50 slots, 50 merges each: the growth per extra concurrent slot."""
    print(f"\n== memory per concurrent slot ({MEMORY_MERGES} merges, {REFERENCES} references of 1 MP each)")
    peaks: list[tuple[int, float]] = []
    for slots, latency_s in MEMORY_SLOTS:
        run = await load_run(MEMORY_MERGES, latency_s=latency_s, rate_limits=False, concurrency=slots, burst_s=2.0)
        busy = peak_overlap(run.generations)
        print(
            f"concurrency {slots}: peak RSS {run.peak_rss_mb:.0f} MB, at most {busy} generations at once, "
            f"{run.finished}/{run.merges} results"
        )
        peaks.append((busy, run.peak_rss_mb))
    (low, low_mb), (high, high_mb) = peaks[0], peaks[-1]
    for (a, a_mb), (b, b_mb) in itertools.pairwise(peaks):
        if b > a:
            print(f"  {a} -> {b} at once: {(b_mb - a_mb) / (b - a):.1f} MB per extra slot")
    if high > low:
        print(f"growth per extra concurrent slot: {(high_mb - low_mb) / (high - low):.1f} MB (target <= 8 MB)")


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak


async def main(quick: bool, memory: bool = True) -> None:
    slow = (3.0, 4.0) if quick else (15.0, 20.0)
    report(
        f"40 merges from 40 people within 3 s, concurrency 4, Slack rate limits on, OpenAI {slow[0]:g}-{slow[1]:g} s",
        await load_run(40, latency_s=slow, rate_limits=True),
    )
    if quick:
        return
    report(
        "200 merges, no rate limits, OpenAI 4-6 s",
        await load_run(200, latency_s=(4.0, 6.0), rate_limits=False, burst_s=10.0),
    )
    if memory:
        await memory_per_slot()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3-4 s generations, the burst only")
    parser.add_argument("--memory", action="store_true", help="only the memory-per-slot measure")
    parser.add_argument("--no-memory", action="store_true", help="the burst and the 200 merges, not the memory measure")
    args = parser.parse_args()
    asyncio.run(memory_per_slot() if args.memory else main(args.quick, memory=not args.no_memory))
