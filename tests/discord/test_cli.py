"""``mergebot discord sync`` and ``mergebot discord invite``."""

from __future__ import annotations

import argparse
import asyncio
import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import discord
import pytest

from adapters.discord import add_cli
from adapters.discord.cli import application_id_from_token, bot_permissions, invite_main, sync_commands, sync_main
from adapters.discord.client import bot_intents
from bot.settings import Secret, Settings
from tests.discord.conftest import World
from tests.doubles.discord_double import DiscordDouble


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="mergebot")
    add_cli(root.add_subparsers(dest="command"))
    return root


def double_settings(tmp_path: Path, discord_api: DiscordDouble) -> Settings:
    return Settings(
        data_dir=tmp_path,
        discord_token=Secret(discord_api.token),
        discord_api_base_url=discord_api.base_url,
        discord_gateway_url=discord_api.gateway_url,
    )


async def test_sync_to_a_guild_registers_merge_and_the_message_menu(
    tmp_path: Path, discord_api: DiscordDouble, world: World
) -> None:
    names = await sync_commands(double_settings(tmp_path, discord_api), int(world.guild["id"]))

    assert names == ["merge", "Merge images from here", "Edit the marked area"]
    registered = {c["name"]: c for c in discord_api.commands[world.guild["id"]]}
    merge = registered["merge"]
    options = {o["name"]: o for o in merge["options"]}
    assert options["prompt"]["required"] is True
    assert [o["type"] for name, o in options.items() if name.startswith("image")] == [11, 11, 11, 11]
    assert [c["value"] for c in options["mode"]["choices"]] == ["auto", "collage", "separate", "hybrid"]
    assert registered["Merge images from here"]["type"] == 3
    assert registered["Edit the marked area"]["type"] == 3
    assert discord_api.spec_errors == []


async def test_sync_without_a_guild_is_global(tmp_path: Path, discord_api: DiscordDouble) -> None:
    await sync_commands(double_settings(tmp_path, discord_api), None)

    names = {c["name"] for c in discord_api.commands[None]}
    assert names == {"merge", "Merge images from here", "Edit the marked area"}


async def test_sync_with_a_refused_token_raises_login_failure(tmp_path: Path, discord_api: DiscordDouble) -> None:
    settings = double_settings(tmp_path, discord_api)
    settings = Settings(**{**settings.__dict__, "discord_token": Secret("wrong")})

    with pytest.raises(discord.LoginFailure):
        await sync_commands(settings, None)


def test_sync_without_a_token_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["discord", "sync"])

    assert sync_main(args, env={}) == 2
    assert capsys.readouterr().err.strip() == "discord sync: DISCORD_TOKEN is not set"


def test_a_guild_id_must_be_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["discord", "sync", "--guild", "studio"])
    assert exited.value.code == 2


def test_invite_prints_the_exact_scopes_and_permissions(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["discord", "invite"])

    assert args.func(args, env={"DISCORD_APPLICATION_ID": "123456789012345678"}) == 0

    url = urlsplit(capsys.readouterr().out.strip())
    query = parse_qs(url.query)
    assert url.netloc == "discord.com"
    assert query["client_id"] == ["123456789012345678"]
    assert query["scope"] == ["bot applications.commands"]
    permissions = discord.Permissions(int(query["permissions"][0]))
    assert permissions.send_messages and permissions.attach_files and permissions.read_message_history
    assert permissions.send_messages_in_threads and permissions.add_reactions and permissions.embed_links
    assert not permissions.administrator and not permissions.manage_channels


def test_invite_takes_the_application_id_from_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    token = base64.b64encode(b"987654321098765432").decode().rstrip("=") + ".GxYz.signature"

    assert invite_main(argparse.Namespace(), env={"DISCORD_TOKEN": token}) == 0
    assert "client_id=987654321098765432" in capsys.readouterr().out


def test_invite_without_any_id_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert invite_main(argparse.Namespace(), env={}) == 2
    assert "DISCORD_APPLICATION_ID" in capsys.readouterr().err


def test_application_id_from_a_token_that_is_not_one() -> None:
    assert application_id_from_token("not-a-token") is None


def test_the_readme_states_the_permissions_and_intents_the_bot_really_asks_for() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("\n## Discord", 1)[1].split("\n## ", 1)[0]

    assert f"permissions={bot_permissions().value}" in section
    assert f"(integer `{bot_permissions().value}`)" in section
    assert f"(value {bot_intents(message_content=True).value})" in section


def double_env(discord_api: DiscordDouble, tmp_path: Path, token: str | None = None) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": token or discord_api.token,
        "DISCORD_API_BASE_URL": discord_api.base_url,
        "DISCORD_GATEWAY_URL": discord_api.gateway_url,
        "MERGEBOT_DATA_DIR": str(tmp_path),
    }


@pytest.mark.parametrize(
    ("token", "refusal", "status", "said"),
    [
        (None, None, 0, "synced merge, Merge images from here, Edit the marked area to guild "),
        ("wrong", None, 2, "discord sync: Discord refused DISCORD_TOKEN"),
        (None, 400, 1, "discord sync: Discord did not accept the commands"),
    ],
)
async def test_sync_main_exits_with_one_line(
    tmp_path: Path,
    discord_api: DiscordDouble,
    world: World,
    capsys: pytest.CaptureFixture[str],
    token: str | None,
    refusal: int | None,
    status: int,
    said: str,
) -> None:
    if refusal is not None:
        discord_api.fail_next("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", refusal)
    args = parser().parse_args(["discord", "sync", "--guild", world.guild["id"]])

    # sync_main runs its own event loop, as the CLI does; the double keeps serving on this one.
    exit_status = await asyncio.to_thread(sync_main, args, double_env(discord_api, tmp_path, token))

    captured = capsys.readouterr()
    lines = (captured.out + captured.err).strip().splitlines()
    assert exit_status == status
    assert len(lines) == 1 and lines[0].startswith(said)
    assert discord_api.token not in lines[0]
