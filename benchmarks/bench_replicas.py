"""Replicas: merges per second for 1, 2 and 3 `mergebot run` processes on one PostgreSQL and one S3.

    python -m benchmarks.bench_replicas                  # 90 merges per run (about 3 minutes)
    python -m benchmarks.bench_replicas --merges 30      # a quicker look

Each run starts N real replicas (``tests/replicas.py``, the path of ``deploy/compose.yaml``) on a
fresh database of one local PostgreSQL and a fresh prefix of one local S3 server, with Slack in HTTP
mode (deliveries spread round-robin, as the load balancer does) and the OpenAI double taking 2 s per
call. The caps are raised (``MERGEBOT_CONCURRENCY`` 64, one merge per person), so what limits
throughput is the replicas' own work, not the queue. Every merge is asked for at the start (8
deliveries in flight at a time), each by its own person in its own thread of two small pictures.

It prints, per run: the wall time from the first delivery to the last result, merges per second and
its ratio against the 1-replica run of the same invocation, and the claim latency (enqueue to a
worker holding the job's lease) p50 / p99, read from the shared store by polling every 20 ms (so
figures are within about 20 ms); also the most OpenAI calls at once and how the calls were spread
over the replicas.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from adapters.slack.render import RESULT_TITLE
from tests.doubles.openai_double import OpenAIDouble
from tests.doubles.slack_double import SlackDouble
from tests.imagegen import png
from tests.replicas import Cluster, SlackBalancer, replica_of, slack_env
from tests.servers import PostgresServer, S3Server, fresh_database

CHANNEL = "C0BENCH"
CALL_S = 2.0
CAP = 64
POLL_S = 0.02
DELIVERIES_AT_ONCE = 8  # Slack's deliveries in flight at once; each must be answered within 3 s
LIMIT_S = 600.0


@dataclass
class Run:
    replicas: int
    merges: int
    wall_s: float
    claim_s: list[float]
    most_at_once: int
    calls_by_replica: Counter[int | None]

    @property
    def per_second(self) -> float:
        return self.merges / self.wall_s


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def watch_claims(database_url: str, claims: dict[str, float], stop: asyncio.Event) -> None:
    """Note, for each job, how long after its enqueue a worker first held its lease."""
    connection = await asyncpg.connect(database_url)
    try:
        while not stop.is_set():
            now = time.time()
            rows = await connection.fetch(
                "SELECT id, queued_at FROM jobs WHERE lease_owner IS NOT NULL AND queued_at IS NOT NULL"
            )
            for row in rows:
                claims.setdefault(str(row["id"]), now - float(row["queued_at"]))
            await asyncio.sleep(POLL_S)
    finally:
        await connection.close()


async def one_run(replicas: int, merges: int, root: Path, postgres: PostgresServer, s3: S3Server) -> Run:
    database_url = fresh_database(postgres)
    async with OpenAIDouble(latency_s=(CALL_S, CALL_S)) as openai_api, SlackDouble() as slack_api:
        threads = []
        for n in range(merges):
            person = slack_api.add_user(f"U0B{n:04d}", f"person{n}")
            root_message = slack_api.upload(CHANNEL, person, ("a.png", png(64, 48, seed=n)), ("b.png", png(seed=n)))
            threads.append((person, str(root_message["ts"])))
        shared = {
            "MERGEBOT_DATABASE_URL": database_url,
            **s3.env(prefix=f"bench-{replicas}-{time.time_ns()}"),
            "MERGEBOT_MEDIA_HOSTS": "127.0.0.1",
            "MERGEBOT_SHEET_SIDE": "512",
            "MERGEBOT_CONCURRENCY": str(CAP),
            "MERGEBOT_USER_CONCURRENCY": "1",
            "MERGEBOT_WORKSPACE_DAILY_USD": "100000",
            "MERGEBOT_LOG_LEVEL": "warning",
            "OPENAI_BASE_URL": openai_api.base_url,
            **slack_env(slack_api.api_url),
        }
        claims: dict[str, float] = {}
        stop = asyncio.Event()
        async with Cluster.of(root / f"{replicas}-replicas", shared, [{}] * replicas) as cluster:
            watcher = asyncio.create_task(watch_claims(database_url, claims, stop))
            balancer = SlackBalancer(cluster.replicas, cluster.http)
            deliveries = asyncio.Semaphore(DELIVERIES_AT_ONCE)

            async def ask(n: int, person: str, thread: str) -> None:
                async with deliveries:
                    await balancer.deliver(slack_api.mention_event(CHANNEL, person, f"merge {n}", thread_ts=thread))

            started = time.monotonic()
            await asyncio.gather(*(ask(n, person, thread) for n, (person, thread) in enumerate(threads)))

            def finished() -> int:
                return sum(
                    any(f.title == RESULT_TITLE for f in slack_api.files_in(CHANNEL, thread)) for _, thread in threads
                )

            await slack_api.wait_for(lambda: finished() == merges, limit_s=LIMIT_S, what="every result")
            wall = time.monotonic() - started
            stop.set()
            await watcher
    return Run(
        replicas=replicas,
        merges=merges,
        wall_s=wall,
        claim_s=list(claims.values()),
        most_at_once=openai_api.max_in_flight,
        calls_by_replica=Counter(replica_of(r) for r in openai_api.requests),
    )


def report(runs: list[Run]) -> None:
    base = runs[0]
    print(f"\n{base.merges} merges per run, OpenAI {CALL_S:g} s per call, MERGEBOT_CONCURRENCY {CAP}")
    print("| replicas | wall | merges/s | vs 1 replica | claim p50 | claim p99 | calls at once | calls per replica |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        spread = " / ".join(str(run.calls_by_replica[i]) for i in range(run.replicas))
        print(
            f"| {run.replicas} | {run.wall_s:.1f} s | {run.per_second:.2f} | {run.per_second / base.per_second:.2f}x "
            f"| {1000 * percentile(run.claim_s, 0.5):.0f} ms | {1000 * percentile(run.claim_s, 0.99):.0f} ms "
            f"| {run.most_at_once} | {spread} |"
        )
    print(
        f"(claims seen: {', '.join(str(len(r.claim_s)) for r in runs)}; mean claim latency "
        f"{', '.join(f'{1000 * statistics.mean(r.claim_s):.0f} ms' for r in runs)})"
    )


async def main(merges: int, counts: list[int]) -> None:
    postgres = PostgresServer.start()
    s3 = S3Server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="mergebot-bench-replicas-") as scratch:
            runs = []
            for count in counts:
                runs.append(await one_run(count, merges, Path(scratch), postgres, s3))
                print(f"{count} replica(s): {runs[-1].per_second:.2f} merges/s", flush=True)
            report(runs)
    finally:
        s3.stop()
        postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merges", type=int, default=90, help="merges per run (default 90)")
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3], help="replica counts, first is the base")
    args = parser.parse_args()
    asyncio.run(main(args.merges, args.replicas))
