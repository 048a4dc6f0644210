from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.controls import decode, encode
from bot.errors import ConfigError
from bot.logs import MaskingFormatter
from bot.model import Action, ActionKind, Mode
from bot.redact import Redactor
from bot.settings import ReplicaRole, Settings


def test_defaults_and_overrides() -> None:
    settings = Settings.from_env({"HOME": "/home/ana"})
    assert settings.model == "gpt-image-2" and settings.mode is Mode.AUTO
    assert settings.data_dir == Path("/home/ana/.local/share/mergebot"), "per user, never ./data"
    assert Settings.from_env({"XDG_DATA_HOME": "/xdg"}).data_dir == Path("/xdg/mergebot")
    settings = Settings.from_env(
        {
            "MERGEBOT_MODE": "separate",
            "MERGEBOT_DATA_DIR": "/tmp/x",
            "MERGEBOT_USER_DAILY_MERGES": "3",
            "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
            "MERGEBOT_MEDIA_HOSTS": "a.example, 127.0.0.1",
        }
    )
    assert settings.mode is Mode.SEPARATE and settings.limits.per_user_daily == 3
    assert settings.media_hosts == ("a.example", "127.0.0.1")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"MERGEBOT_MODE": "mosaic"}, "MERGEBOT_MODE"),
        ({"MERGEBOT_CONCURRENCY": "0"}, "MERGEBOT_CONCURRENCY"),
        ({"OPENAI_BASE_URL": "not a url"}, "OPENAI_BASE_URL"),
        ({"MERGEBOT_PRICES": "[1]"}, "MERGEBOT_PRICES"),
        ({"SLACK_REBALANCE_REACTIONS": '{"cat": "b"}'}, "SLACK_REBALANCE_REACTIONS"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MERGEBOT_MODEL=gpt-image-2.5-flare\nMERGEBOT_MODE=separate\n")
    settings = Settings.from_env({"MERGEBOT_MODE": "collage"}, dotenv=dotenv)
    assert settings.model == "gpt-image-2.5-flare" and settings.mode is Mode.COLLAGE


def test_secrets_never_show_in_repr() -> None:
    settings = Settings.from_env({"OPENAI_API_KEY": "sk-test-abcdefghijkl", "DISCORD_TOKEN": "discord-token-123"})
    assert "sk-test-abcdefghijkl" not in repr(settings) and "discord-token-123" not in repr(settings)
    assert settings.openai_api_key is not None and settings.openai_api_key.reveal() == "sk-test-abcdefghijkl"


def test_media_hosts_allow_https_and_listed_loopback_http_only() -> None:
    settings = Settings.from_env({"MERGEBOT_MEDIA_HOSTS": "cdn.discordapp.com,127.0.0.1"})
    assert settings.media_host_allowed("https://cdn.discordapp.com/a.png")
    assert not settings.media_host_allowed("http://cdn.discordapp.com/a.png")
    assert settings.media_host_allowed("http://127.0.0.1:8080/a.png")
    assert not settings.media_host_allowed("http://localhost:8080/a.png")
    assert not settings.media_host_allowed("https://evil.example/a.png")


def test_the_log_formatter_masks_secrets_in_log_records() -> None:
    import logging

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "secret was %s", ("hunter2-abcdefghijkl",), None)
    assert MaskingFormatter(Redactor(["hunter2-abcdefghijkl"])).format(record).endswith("x: secret was ***")


@pytest.mark.parametrize(
    "action",
    [
        Action(ActionKind.RETRY, "abc123def0"),
        Action(ActionKind.REBALANCE, "abc123def0", "B"),
        Action(ActionKind.DELETE, "abc123def0"),
        Action(ActionKind.REBALANCE, "abc123def0", "AA"),
        Action(ActionKind.PICK, "abc123def0", "2"),
        Action(ActionKind.VARY, "abc123def0", "4"),
    ],
)
def test_custom_ids_round_trip(action: Action) -> None:
    custom_id = encode(action)
    assert len(custom_id) <= 100 and decode(custom_id) == action


@pytest.mark.parametrize(
    "custom_id",
    [
        "mb:more:abc123def0",
        "mb:nuke:abc123def0",
        "other:retry:abc",
        "mb:retry:../x",
        "mb:pick:abc123def0",
        "mb:vary:abc123def0:B",
        "mb:more:abc123def0:2",
        "mb:pick:abc123def0:0",
        "mb:pick:abc123def0:12",
    ],
)
def test_foreign_or_malformed_ids_are_not_ours(custom_id: str) -> None:
    assert decode(custom_id) is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MERGEBOT_MAX_IMAGES", "25"),
        ("MERGEBOT_MAX_IMAGES", "0"),
        ("MERGEBOT_SHEET_SIDE", "100000"),
        ("MERGEBOT_SHEET_SIDE", "100"),
        ("MERGEBOT_PARTIAL_IMAGES", "4"),
        ("MERGEBOT_VARIATIONS", "0"),
        ("MERGEBOT_VARIATIONS", "5"),
        ("MERGEBOT_MAX_PROMPT_CHARS", "32001"),
        ("MERGEBOT_MAX_IMAGE_BYTES", "999999999999"),
        ("MERGEBOT_CONCURRENCY", "100000"),
        ("MERGEBOT_JOB_TIMEOUT", "inf"),
        ("MERGEBOT_FETCH_TIMEOUT", "nan"),
        ("MERGEBOT_DECODE_TIMEOUT", "0"),
        ("MERGEBOT_WORKSPACE_DAILY_USD", "-1"),
        ("SLACK_PORT", "65536"),
    ],
)
def test_every_setting_is_bounded(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable} must be from "):
        Settings.from_env({variable: value})


def test_the_bounds_themselves_are_accepted() -> None:
    settings = Settings.from_env({"MERGEBOT_MAX_IMAGES": "24", "MERGEBOT_SHEET_SIDE": "4096", "SLACK_PORT": "65535"})
    assert (settings.limits.max_images, settings.sheet_side, settings.slack_port) == (24, 4096, 65535)


def test_env_example_documents_every_setting_with_the_minimal_set_first() -> None:
    root = Path(__file__).resolve().parents[2]
    example = (root / ".env.example").read_text()
    read = set(re.findall(r'"((?:MERGEBOT|OPENAI|DISCORD|SLACK)_[A-Z_]+)"', (root / "bot" / "settings.py").read_text()))
    assert read, "the settings module names its variables"
    assert sorted(v for v in read if v not in example) == []
    first = next(line for line in example.splitlines() if line and not line.startswith("#"))
    assert first == "OPENAI_API_KEY="
    assert example.index("DISCORD_TOKEN") < example.index("MERGEBOT_DATA_DIR")
    assert example.index("SLACK_APP_TOKEN") < example.index("MERGEBOT_DATA_DIR")
    assert Settings.from_env({}, dotenv=root / ".env.example").openai_api_key is None, "it parses as it ships"


def test_a_replica_role_needs_a_shared_store() -> None:
    assert Settings.from_env({}).role is ReplicaRole.ALL
    shared = {"MERGEBOT_DATABASE_URL": "postgresql://bot@127.0.0.1/mergebot"}
    assert Settings.from_env({**shared, "MERGEBOT_ROLE": "worker"}).role is ReplicaRole.WORKER
    events = Settings.from_env({**shared, "MERGEBOT_ROLE": "Events"}).role
    assert events is ReplicaRole.EVENTS and events.takes_events and not events.runs_jobs
    with pytest.raises(ConfigError, match=r"^MERGEBOT_ROLE must be one of all, events, worker"):
        Settings.from_env({**shared, "MERGEBOT_ROLE": "gateway"})
    with pytest.raises(ConfigError, match=r"^MERGEBOT_ROLE=worker needs a job store other replicas share"):
        Settings.from_env({"MERGEBOT_ROLE": "worker"})


def test_the_lease_length_is_a_bounded_setting() -> None:
    assert Settings.from_env({}).limits.lease_s == 30.0
    assert Settings.from_env({"MERGEBOT_LEASE_SECONDS": "3"}).limits.lease_s == 3.0
    with pytest.raises(ConfigError, match="MERGEBOT_LEASE_SECONDS"):
        Settings.from_env({"MERGEBOT_LEASE_SECONDS": "0.5"})


def test_the_listen_address_is_an_ip_address() -> None:
    assert Settings.from_env({}).listen_host == "0.0.0.0", "in a container the load balancer reaches any address"
    assert Settings.from_env({"MERGEBOT_LISTEN_HOST": "127.0.0.1"}).listen_host == "127.0.0.1"
    assert Settings.from_env({"MERGEBOT_LISTEN_HOST": "::1"}).listen_host == "::1"
    with pytest.raises(ConfigError, match=r"^MERGEBOT_LISTEN_HOST must be an IP address"):
        Settings.from_env({"MERGEBOT_LISTEN_HOST": "localhost; rm -rf /"})
