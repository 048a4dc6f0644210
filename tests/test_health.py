"""Health of a running replica: /healthz, /readyz and `mergebot health`, with its store going away."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from pathlib import Path

from bot import runner
from bot.blobs import BlobStore
from bot.health import fetch_readiness, storage_checks
from bot.settings import Secret, Settings
from bot.sqlite_store import MEMORY, SqliteJobStore
from tests.core.test_cli import mergebot
from tests.doubles.discord_double import DiscordDouble
from tests.doubles.openai_double import OpenAIDouble
from tests.servers import PostgresServer, free_port, fresh_database


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def test_storage_checks_pass_and_fail_without_raising(tmp_path: Path) -> None:
    store = SqliteJobStore(Path(MEMORY))
    await store.open()
    blobs = BlobStore(tmp_path, cap_bytes=10**6)
    assert [(c.name, c.ok) for c in await storage_checks(store, blobs)] == [("store", True), ("blobs", True)]
    await store.close()
    failed = await storage_checks(store, blobs)
    assert [(c.name, c.ok) for c in failed] == [("store", False), ("blobs", True)]
    assert failed[0].detail == "SqliteJobStore failed: RuntimeError"


def test_an_unreachable_endpoint_is_one_failed_check() -> None:
    (check,) = fetch_readiness(free_port())
    assert not check.ok and check.name == "endpoint"


async def test_readyz_follows_the_store_and_the_gateway(tmp_path: Path) -> None:
    postgres = await asyncio.to_thread(PostgresServer.start)  # its own server: this test stops it
    try:
        async with OpenAIDouble() as openai_api, DiscordDouble() as discord_api:
            port = free_port()
            settings = Settings(
                data_dir=tmp_path / "data",
                store_driver="postgres",
                database_url=Secret(await asyncio.to_thread(fresh_database, postgres)),
                openai_api_key=Secret("sk-test-not-real"),
                openai_base_url=openai_api.base_url,
                discord_token=Secret(discord_api.token),
                discord_api_base_url=discord_api.base_url,
                discord_gateway_url=discord_api.gateway_url,
                health_port=port,
                listen_host="127.0.0.1",
            )
            running = asyncio.create_task(runner.run(settings))
            try:
                await discord_api.wait_for(lambda: discord_api.connected)
                url = f"http://127.0.0.1:{port}"
                for _ in range(100):
                    status, report = await asyncio.to_thread(_get, f"{url}/readyz")
                    if status == 200:
                        break
                    await asyncio.sleep(0.1)
                assert status == 200, report
                assert [check["name"] for check in report["checks"]] == ["store", "blobs", "discord"]  # type: ignore[union-attr]
                assert (await asyncio.to_thread(_get, f"{url}/healthz"))[0] == 200

                code, out, err = await mergebot(
                    "health",
                    env={"MERGEBOT_HEALTH_PORT": str(port), "MERGEBOT_DATA_DIR": str(settings.data_dir)},
                    cwd=tmp_path,
                )
                assert code == 0, err
                lines = out.splitlines()
                assert lines[0].startswith("mergebot: healthy: heartbeat file")
                assert [line.split(":")[1] for line in lines[1:]] == [" ok store", " ok blobs", " ok discord"]

                await asyncio.to_thread(postgres.stop)
                status, report = await asyncio.to_thread(_get, f"{url}/readyz")
                assert status == 503
                store_check = report["checks"][0]  # type: ignore[index]
                assert store_check["name"] == "store" and not store_check["ok"]
                code, out, err = await mergebot(
                    "health",
                    env={"MERGEBOT_HEALTH_PORT": str(port), "MERGEBOT_DATA_DIR": str(settings.data_dir)},
                    cwd=tmp_path,
                )
                assert code == 1 and out == ""
                assert "mergebot: FAIL store: PostgresJobStore" in err
                assert "password" not in err
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
    finally:
        await asyncio.to_thread(postgres.stop)
