"""Two replicas split one bot's servers by gateway shard (DISCORD_SHARD_COUNT / DISCORD_SHARD_IDS)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from bot import runner
from bot.errors import ConfigError
from bot.postgres_store import PostgresJobStore
from bot.settings import Secret, Settings
from tests.discord.session import result_of, thread_with_images
from tests.doubles.discord_double import DiscordDouble, shard_of
from tests.doubles.openai_double import OpenAIDouble


def test_shard_settings_are_checked() -> None:
    settings = Settings.from_env({"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "3, 1"})
    assert (settings.discord_shard_count, settings.discord_shard_ids) == (4, (1, 3))
    for bad, why in (
        ({"DISCORD_SHARD_IDS": "0"}, "needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "from 0 to 1"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "one"}, "separated by commas"),
        ({"DISCORD_SHARD_COUNT": "0"}, "from 1 to"),
    ):
        with pytest.raises(ConfigError, match=why):
            Settings.from_env(bad)


async def test_each_replica_answers_the_servers_of_its_shard(tmp_path: Path, postgres_url: str) -> None:
    async with OpenAIDouble() as openai_api, DiscordDouble() as discord_api:
        alice = discord_api.add_user("alice")
        guilds = [discord_api.add_guild(f"Studio {n}", shard=(n, 2)) for n in (0, 1)]
        assert [shard_of(int(g["id"]), 2) for g in guilds] == [0, 1]
        channels = [discord_api.add_channel(guild, "art") for guild in guilds]

        def replica(shard: int) -> Settings:
            return Settings(
                data_dir=tmp_path / f"replica-{shard}",
                store_driver="postgres",
                database_url=Secret(postgres_url),
                openai_api_key=Secret("sk-test-not-real"),
                openai_base_url=openai_api.base_url,
                media_hosts=("127.0.0.1",),
                sheet_side=512,
                discord_token=Secret(discord_api.token),
                discord_api_base_url=discord_api.base_url,
                discord_gateway_url=discord_api.gateway_url,
                discord_shard_count=2,
                discord_shard_ids=(shard,),
            )

        replicas = [asyncio.create_task(runner.run(replica(shard))) for shard in (0, 1)]
        try:
            await discord_api.wait_for(lambda: discord_api.ready_shards == [(0, 2), (1, 2)])
            interactions = []
            for channel in channels:
                thread = await thread_with_images(discord_api, channel, alice, 2)
                interactions.append(await discord_api.slash_command(thread, alice, "merge", {"prompt": "both"}))
            results = [await result_of(discord_api, interaction) for interaction in interactions]
            assert all(result["content"].startswith("Merged A, B") for result in results)
            assert len(openai_api.requests) == 2  # each merge ran once, on the replica of its shard
        finally:
            for task in replicas:
                task.cancel()
            for task in replicas:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert discord_api.spec_errors == []

    store = PostgresJobStore(postgres_url)
    await store.open()
    try:
        for guild in guilds:
            assert len(await store.recent_jobs("discord", guild["id"])) == 1
    finally:
        await store.close()
