"""Real servers for the tests, started on 127.0.0.1: PostgreSQL and an S3-protocol server.

PostgreSQL comes from Debian's ``postgresql`` package (``.ci/run`` installs it):
``initdb`` into a temporary directory, then ``pg_ctl start`` on a free loopback
port, with durability switched off because the data is thrown away. As root
(CI), the server runs as the ``postgres`` user, since PostgreSQL refuses root.

The S3 server is moto's, in a thread of the test process (``moto[server]``).

Where a server cannot start, its tests skip with the reason, except in CI
(``CI`` set), where a server that cannot start is a failure: CI must never
quietly stop testing a driver.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "mergebot"
S3_ACCESS_KEY = "mergebot-test-access-key"
S3_SECRET_KEY = "mergebot-test-secret-key"  # moto accepts any pair; these are obviously not real
S3_REGION = "us-east-1"


class ServerUnavailable(RuntimeError):
    """A test server could not be started here."""


def unavailable(reason: str) -> None:
    """Skip, or fail in CI, because a server the test needs cannot start."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every driver's tests, but {reason}", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    if found and Path(found).with_name("initdb").exists():
        return Path(found).parent
    raise ServerUnavailable("PostgreSQL is not installed (apt-get install postgresql)")


def _runuser() -> str:
    """util-linux's runuser lives in sbin, which a minimal PATH may leave out."""
    found = shutil.which("runuser") or next(
        (path for path in ("/usr/sbin/runuser", "/sbin/runuser") if Path(path).exists()), None
    )
    if found is None:
        raise ServerUnavailable("running as root, but runuser (util-linux) is missing to start PostgreSQL as postgres")
    return found


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{name}"

    def _command(self, *args: str) -> list[str]:
        prefix = [_runuser(), "-u", self.run_as, "--"] if self.run_as else []
        return [*prefix, *args]

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = _postgres_bin()
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("running as root and there is no postgres user to run PostgreSQL") from None
            run_as = "postgres"
        root = Path(tempfile.mkdtemp(prefix="mergebot-pg-"))
        if run_as:
            shutil.chown(root, user=run_as)
        server = cls(root=root, port=free_port(), bin_dir=bin_dir, run_as=run_as)
        data = root / "data"
        server._run(str(bin_dir / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-h 127.0.0.1 -p {server.port} -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        server._run(
            str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start"
        )
        return server

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ServerUnavailable(f"{Path(args[0]).name} failed: {done.stderr.strip()[-1000:]} {tail}")

    def stop(self) -> None:
        with contextlib.suppress(ServerUnavailable, subprocess.TimeoutExpired):
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class S3Server:
    """moto's S3 server on a loopback port, with one bucket ready."""

    port: int
    bucket: str
    _server: object

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, prefix: str = "blobs") -> dict[str, str]:
        """The settings that point mergebot's blob store at this server."""
        return {
            "MERGEBOT_BLOB_URL": f"s3://{self.bucket}/{prefix}",
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": S3_REGION,
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        }

    @classmethod
    def start(cls, bucket: str = "mergebot-test") -> S3Server:
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            raise ServerUnavailable(f"moto[server] is not installed ({exc})") from None
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        _wait_for_port(port)
        created = cls(port=port, bucket=bucket, _server=server)
        created.create_bucket(bucket)
        return created

    def create_bucket(self, name: str) -> None:
        import urllib.request

        # moto does not check signatures, so an unsigned PUT creates the bucket.
        request = urllib.request.Request(f"{self.endpoint}/{name}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def stop(self) -> None:
        stop = getattr(self._server, "stop", None)
        if callable(stop):
            stop()


def _wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ServerUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def fresh_database(server: PostgresServer) -> str:
    """Create an empty database on ``server`` and return its URL."""
    import secrets

    name = f"t_{secrets.token_hex(6)}"
    server._run(str(server.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(server.port), "-U", PG_USER, name)
    return server.database_url(name)
