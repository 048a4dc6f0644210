"""Several real ``mergebot run`` processes sharing one PostgreSQL and one S3 server.

The path an operator takes with ``deploy/compose.yaml``: each replica is the installed
``mergebot`` entry point in its own process with its own data directory, pointed at the
same ``MERGEBOT_DATABASE_URL`` and ``MERGEBOT_BLOB_URL``, at the doubles of this process
(OpenAI, Slack in HTTP mode, Discord) and serving ``/readyz`` on its own port.

- ``Replica``: one process; ``start``, ``kill`` (SIGKILL: nothing gets to write a last
  word), ``stop`` (SIGTERM), ``ready`` (its ``/readyz`` answers 200).
- ``SlackBalancer``: Slack's HTTP deliveries, signed like Slack signs them, spread
  round-robin over the replicas as ``deploy/nginx.conf`` spreads them; a replica that
  refuses the connection is skipped (nginx's ``proxy_next_upstream error``).
- ``replica_env``: the environment of one replica.

Each replica has its own ``OPENAI_API_KEY`` (``openai_key(index)``), so the OpenAI double's
records say which replica made a call (``replica_of``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.doubles.openai_double import RecordedRequest
from tests.doubles.slack_double import BOT_TOKEN, SIGNING_SECRET, sign
from tests.servers import free_port

EVENTS_PATH = "/slack/events"
READY_WITHIN_S = 60.0
STOP_WITHIN_S = 40.0
SAFETY_SALT = "replicas-share-one-salt"  # one person must have one safety_identifier on every replica
# The variables a replica takes from this process's environment are none of mergebot's own.
OWN_PREFIXES = ("MERGEBOT_", "SLACK_", "DISCORD_", "OPENAI_", "AWS_")


def openai_key(index: int) -> str:
    return f"sk-test-replica-{index}"


def replica_of(request: RecordedRequest) -> int | None:
    """Which replica made ``request`` (by the key it sent), if it was one of them."""
    auth = request.headers.get("Authorization", "")
    prefix = "Bearer " + openai_key(0)[:-1]
    return int(auth[len(prefix) :]) if auth.startswith(prefix) and auth[len(prefix) :].isdigit() else None


def replica_env(index: int, data_dir: Path, shared: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The environment of replica ``index``: this process's minus mergebot's variables, then ``shared``
    (store, blobs, doubles, limits), its own data dir, OpenAI key and ports, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update(
        MERGEBOT_DATA_DIR=str(data_dir),
        MERGEBOT_LISTEN_HOST="127.0.0.1",
        MERGEBOT_SAFETY_SALT=SAFETY_SALT,
        MERGEBOT_HEALTH_PORT=str(free_port()),
        OPENAI_API_KEY=openai_key(index),
    )
    env.update(shared)
    if "SLACK_BOT_TOKEN" in env:
        env.setdefault("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        env.setdefault("SLACK_PORT", str(free_port()))
    env.update(extra)
    return env


def slack_env(api_url: str) -> dict[str, str]:
    """Slack in HTTP mode against the double at ``api_url`` (the ports are each replica's own)."""
    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url}


@dataclass
class Replica:
    """One ``mergebot run`` process (not started until ``start``)."""

    index: int
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None
    killed_at: float | None = None  # time.monotonic() of the SIGKILL

    @property
    def events_url(self) -> str | None:
        port = self.env.get("SLACK_PORT")
        return None if port is None or "SLACK_BOT_TOKEN" not in self.env else f"http://127.0.0.1:{port}{EVENTS_PATH}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        mergebot = Path(sys.executable).with_name("mergebot")
        cwd = Path(self.env["MERGEBOT_DATA_DIR"]).parent
        with self.log.open("ab") as sink:
            self.process = await asyncio.create_subprocess_exec(
                str(mergebot),
                "run",
                env=self.env,
                cwd=cwd,
                stdout=sink,
                stderr=sink,
                stdin=asyncio.subprocess.DEVNULL,
            )

    async def ready(self, http: aiohttp.ClientSession) -> bool:
        """Whether ``/readyz`` answers 200 (store, blobs and chat connections all checked)."""
        url = f"http://127.0.0.1:{self.env['MERGEBOT_HEALTH_PORT']}/readyz"
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def wait_ready(self, http: aiohttp.ClientSession, within_s: float = READY_WITHIN_S) -> None:
        deadline = time.monotonic() + within_s
        while not await self.ready(http):
            if not self.alive:
                raise AssertionError(f"replica {self.index} exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"replica {self.index} not ready within {within_s:.0f} s:\n{self.log_tail()}")
            await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """SIGKILL: its connections drop at once and nothing it held is handed back."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.killed_at = time.monotonic()
        await asyncio.wait_for(self.process.wait(), STOP_WITHIN_S)

    async def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``STOP_WITHIN_S``; its exit code."""
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), STOP_WITHIN_S)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode

    def log_tail(self, chars: int | None = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if chars is None else text[-chars:]


@dataclass
class Cluster:
    """Replicas started together; ``async with`` stops every one still running on the way out."""

    replicas: list[Replica]
    http: aiohttp.ClientSession = field(init=False)

    @classmethod
    def of(cls, root: Path, shared: Mapping[str, str], per_replica: Sequence[Mapping[str, str]]) -> Cluster:
        replicas = []
        for index, extra in enumerate(per_replica):
            data_dir = root / f"replica-{index}" / "data"
            data_dir.mkdir(parents=True)
            env = replica_env(index, data_dir, shared, **extra)
            replicas.append(Replica(index, env, root / f"replica-{index}.log"))
        return cls(replicas)

    async def __aenter__(self) -> Cluster:
        self.http = aiohttp.ClientSession()
        try:
            await asyncio.gather(*(replica.start() for replica in self.replicas))
            await asyncio.gather(*(replica.wait_ready(self.http) for replica in self.replicas))
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        try:
            await asyncio.gather(*(replica.stop() for replica in self.replicas))
        finally:
            await self.http.close()

    def logs(self, chars: int | None = None) -> str:
        """What every replica logged (the last ``chars`` of each), headed by its index."""
        return "\n".join(f"--- replica {r.index}\n{r.log_tail(chars)}" for r in self.replicas)


class SlackBalancer:
    """Slack's HTTP deliveries spread round-robin over replicas, signed with the signing secret."""

    def __init__(self, replicas: Sequence[Replica], http: aiohttp.ClientSession) -> None:
        self._targets = [r for r in replicas if r.events_url is not None]
        assert self._targets, "no replica takes Slack's HTTP deliveries"
        self._turn = itertools.cycle(range(len(self._targets)))
        self._http = http
        self.delivered: list[tuple[int, dict[str, Any]]] = []  # (replica index, body) of each delivery taken

    async def deliver(self, body: dict[str, Any]) -> Replica:
        """POST ``body`` to the next replica that takes the connection; the one that answered 200."""
        raw = json.dumps(body)
        for _ in range(len(self._targets)):
            target = self._targets[next(self._turn)]
            url = target.events_url
            assert url is not None
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with self._http.post(
                    url,
                    data=raw,
                    headers={"Content-Type": "application/json", **sign(raw)},
                    timeout=aiohttp.ClientTimeout(total=3),  # Slack's own acknowledgement window
                ) as response:
                    if response.status != 200:
                        raise AssertionError(f"replica {target.index} answered {response.status} to a delivery")
                    self.delivered.append((target.index, body))
                    return target
        raise AssertionError("no replica took the delivery")
