"""Health of a running replica: its store, its blob store and its chat connections.

Adapters ``report`` how their connection stands; ``readiness`` adds a live probe
of the job store and the blob store. ``serve_health`` answers load balancers and
Kubernetes probes over HTTP on ``MERGEBOT_HEALTH_PORT``:

- ``GET /healthz``: 200 while the process and its event loop answer (liveness);
- ``GET /readyz``: 200 when every check passes, else 503 (readiness); the body
  lists each check as JSON, and ``mergebot health`` prints it.

``check_heartbeat`` is the check that needs no port: the file ``mergebot run``
touches every 30 s under the data directory (the Docker healthcheck).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from .blobs import Blobs
    from .store import JobStore

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
# A digest no blob has: asking whether it exists is the cheapest round trip to the blob store.
PROBE_DIGEST = "0" * 64
PROBE_JOB = "health-probe"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class Health:
    """What each part of this replica last said about itself (``report``), as checks."""

    def __init__(self) -> None:
        self._parts: dict[str, Check] = {}

    def expect(self, name: str) -> None:
        """``name`` is part of this replica: it fails readiness until it reports itself up."""
        self._parts.setdefault(name, Check(name, False, "starting, not connected yet"))

    def report(self, name: str, ok: bool, detail: str) -> None:
        previous = self._parts.get(name)
        self._parts[name] = Check(name, ok, detail)
        if previous is None or previous.ok != ok or (previous.detail != detail and not ok):
            (log.info if ok else log.warning)("%s: %s", name, detail)

    def parts(self) -> list[Check]:
        return list(self._parts.values())


async def probe(name: str, call: Callable[[], Awaitable[object]], what: str) -> Check:
    """Run ``call`` within the probe timeout: a check named ``name`` that says how long it took."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(call(), PROBE_TIMEOUT_S)
    except TimeoutError:
        return Check(name, False, f"{what} did not answer within {PROBE_TIMEOUT_S:.0f} s")
    except Exception as exc:  # a probe reports any failure; it never raises
        return Check(name, False, f"{what} failed: {type(exc).__name__}")
    return Check(name, True, f"{what} answered in {1000 * (time.monotonic() - started):.0f} ms")


async def storage_checks(store: JobStore, blobs: Blobs) -> list[Check]:
    return list(
        await asyncio.gather(
            probe("store", lambda: store.get(PROBE_JOB), type(store).__name__),
            probe("blobs", lambda: blobs.has(PROBE_DIGEST), type(blobs).__name__),
        )
    )


def check_heartbeat(data_dir: Path, now: float | None = None) -> tuple[bool, str]:
    """``(healthy, what was checked and found)`` for the heartbeat ``mergebot run`` touches every 30 s."""
    from .runner import HEARTBEAT_FILE, HEARTBEAT_STALE_S  # the runner serves health: import it late

    path = data_dir / HEARTBEAT_FILE
    limit = f"stale after {HEARTBEAT_STALE_S:.0f} s"
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False, (
            f"unhealthy: no heartbeat file {path}; is `mergebot run` running with MERGEBOT_DATA_DIR={data_dir}?"
        )
    except OSError as exc:
        return False, f"unhealthy: cannot read the heartbeat file {path} ({exc.strerror or exc})"
    if age < HEARTBEAT_STALE_S:
        return True, f"healthy: heartbeat file {path} was touched {max(age, 0):.0f} s ago ({limit})"
    return False, f"unhealthy: heartbeat file {path} is {age:.0f} s old ({limit}): the bot is stopped or stuck"


def body(checks: Sequence[Check]) -> dict[str, object]:
    return {"ok": all(check.ok for check in checks), "checks": [asdict(check) for check in checks]}


async def serve_health(readiness: Callable[[], Awaitable[list[Check]]], port: int, host: str) -> None:
    """Serve ``/healthz`` and ``/readyz`` on ``host:port`` until cancelled."""
    from aiohttp import web

    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def ready(_: web.Request) -> web.Response:
        report = body(await readiness())
        return web.json_response(report, status=200 if report["ok"] else 503, dumps=json.dumps)

    app = web.Application()
    app.router.add_get("/healthz", alive)
    app.router.add_get("/readyz", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("health endpoint on %s:%d (/healthz, /readyz)", host, port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def fetch_readiness(port: int, host: str = "127.0.0.1") -> list[Check]:
    """Ask a running replica's ``/readyz`` (for ``mergebot health``); an unreachable one is one failed check."""
    import urllib.error
    import urllib.request

    url = f"http://{host}:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S + 2) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503 still carries the checks
        report = json.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        return [Check("endpoint", False, f"{url} did not answer ({type(exc).__name__})")]
    return [Check(str(c["name"]), bool(c["ok"]), str(c["detail"])) for c in report.get("checks", [])]
