"""deploy/compose.yaml, deploy/nginx.conf and the Dockerfile against what the code reads.

There is no Docker engine here, so the files are parsed: every variable the replicas are given
is a setting ``bot/settings.py`` reads, the settings they make parse, and the pieces agree with
each other (credentials, ports, paths, shards, grace periods).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack import EVENTS_PATH
from bot.cli import CORE_COMMANDS
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}: Compose's interpolation.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# What the platforms need to start, which .env (env_file) supplies in a real deployment.
TOKENS = {"OPENAI_API_KEY": "sk-placeholder", "SLACK_BOT_TOKEN": "xoxb-" + "placeholder", "SLACK_SIGNING_SECRET": "s"}


def interpolate(value: Any) -> str:
    """A Compose value with its variables at their defaults (a required one becomes a placeholder)."""

    def one(match: re.Match[str]) -> str:
        op, arg = match.group("op"), match.group("arg")
        if op is not None and op.endswith("-"):
            return arg
        return f"placeholder-{match.group('name').lower()}"

    return INTERPOLATION.sub(one, str(value)).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def replicas(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run mergebot (built from this repository)."""
    found = {name: service for name, service in compose["services"].items() if "build" in service}
    assert len(found) >= 2, "the layout runs several replicas"
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment as a mapping"
    return {str(k): interpolate(v) for k, v in env.items()}


def settings_read() -> set[str]:
    """Every variable bot/settings.py reads (it names each one as a string literal)."""
    source = (ROOT / "bot" / "settings.py").read_text()
    return set(re.findall(r'"((?:MERGEBOT|OPENAI|DISCORD|SLACK|AWS)_[A-Z0-9_]+)"', source))


def test_every_variable_given_to_a_replica_is_a_setting(compose: dict[str, Any]) -> None:
    known = settings_read()
    assert {"MERGEBOT_DATABASE_URL", "AWS_ENDPOINT_URL", "DISCORD_SHARD_IDS"} <= known
    for name, service in replicas(compose).items():
        unknown = sorted(set(environment(service)) - known)
        assert unknown == [], f"{name} sets variables mergebot never reads: {unknown}"


def test_each_replica_parses_to_a_shared_store_shared_blobs_and_probes(compose: dict[str, Any]) -> None:
    parsed = {name: Settings.from_env({**TOKENS, **environment(s)}) for name, s in replicas(compose).items()}
    for name, settings in parsed.items():
        assert settings.store_driver == "postgres", name
        assert settings.object_storage is not None and settings.object_storage.endpoint is not None, name
        assert settings.health_port is not None, f"{name}: /readyz for the load balancer and probes"
        assert settings.slack_signing_secret is not None  # HTTP mode, behind the load balancer
    urls = {s.database_url.reveal() for s in parsed.values() if s.database_url is not None}
    buckets = {(s.object_storage.bucket, s.object_storage.prefix) for s in parsed.values() if s.object_storage}
    assert len(urls) == 1 and len(buckets) == 1, "every replica shares one database and one bucket"


def test_the_database_and_the_bucket_are_the_ones_the_layout_creates(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = environment(services["postgres"])
    minio = environment(services["minio"])
    for name, service in replicas(compose).items():
        settings = Settings.from_env({**TOKENS, **environment(service)})
        assert settings.database_url is not None and settings.object_storage is not None
        url = settings.database_url.reveal()
        expected = (
            f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/"
            f"{postgres['POSTGRES_DB']}"
        )
        assert url == expected, name
        storage = settings.object_storage
        assert (storage.access_key_id, storage.secret_access_key and storage.secret_access_key.reveal()) == (
            minio["MINIO_ROOT_USER"],
            minio["MINIO_ROOT_PASSWORD"],
        ), name
        assert f"local/{storage.bucket}" in interpolate(services["bucket"]["entrypoint"]), "the bucket is made"
        assert service["depends_on"]["bucket"]["condition"] == "service_completed_successfully"


def test_the_shards_are_split_over_the_replicas(compose: dict[str, Any]) -> None:
    parsed = [Settings.from_env({**TOKENS, **environment(s)}) for s in replicas(compose).values()]
    counts = {s.discord_shard_count for s in parsed}
    assert len(counts) == 1 and None not in counts, "every replica gets the same DISCORD_SHARD_COUNT"
    ids = [shard for s in parsed for shard in s.discord_shard_ids or ()]
    assert sorted(ids) == list(range(counts.pop() or 0)), "each shard on exactly one replica"


def test_the_load_balancer_reaches_every_replica_where_it_listens(compose: dict[str, Any]) -> None:
    nginx = (DEPLOY / "nginx.conf").read_text()
    upstream = re.findall(r"^\s*server\s+([\w.-]+):(\d+)", nginx, re.MULTILINE)
    ports = {name: Settings.from_env({**TOKENS, **environment(s)}).slack_port for name, s in replicas(compose).items()}
    assert sorted((host, int(port)) for host, port in upstream) == sorted(ports.items())
    assert re.search(rf"location\s+{re.escape(EVENTS_PATH)}\s*\{{", nginx), "nginx passes Slack's request URL"
    balancer = compose["services"]["loadbalancer"]
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in balancer["volumes"]
    assert set(balancer["depends_on"]) == set(ports)
    # A replica that dies mid-request: the delivery goes to the next one (safe, deliveries are
    # de-duplicated in the shared store); nginx never retries a POST without `non_idempotent`.
    assert re.search(r"proxy_next_upstream[^;]*\berror\b[^;]*\bnon_idempotent\b", nginx)


def test_the_healthcheck_and_the_stop_grace_match_the_bot(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "health" in CORE_COMMANDS
    assert 'CMD ["mergebot", "health"]' in dockerfile
    grace = Settings().shutdown_grace_s
    for name, service in replicas(compose).items():
        assert service["healthcheck"]["test"] == ["CMD", "mergebot", "health"], name
        given = Settings.from_env({**TOKENS, **environment(service)}).shutdown_grace_s
        stop = re.fullmatch(r"(\d+)s", str(service["stop_grace_period"]))
        assert stop is not None and int(stop.group(1)) > max(grace, given), f"{name} is killed before its grace"
    assert f"EXPOSE {Settings().slack_port}" in dockerfile


def test_the_layout_says_how_to_start_it_from_where_its_env_file_is(compose: dict[str, Any]) -> None:
    header = (DEPLOY / "compose.yaml").read_text().split("name:", 1)[0]
    for service in replicas(compose).values():
        env_file = (DEPLOY / service["env_file"]).resolve()
        assert env_file == ROOT / ".env", "the replicas read the repository's .env"
    assert "cp .env.example .env" in header and "docker compose -f deploy/compose.yaml" in header
    assert "MERGEBOT_SAFETY_SALT" in header, "replicas must share one salt (else each makes its own)"


def test_the_dockerfile_and_the_readme_state_the_grace_the_bot_uses() -> None:
    """What they tell an operator about stopping matches MERGEBOT_SHUTDOWN_GRACE's default, and
    every stop timeout they suggest is longer than it (else the container is killed mid-grace)."""
    grace = Settings().shutdown_grace_s
    readme = (ROOT / "README.md").read_text()
    stopping = readme.split("### Stopping (Docker and Kubernetes)", 1)[1].split("\n## ", 1)[0]
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, text in (("README", stopping), ("Dockerfile", dockerfile)):
        stated = re.findall(r"MERGEBOT_SHUTDOWN_GRACE`?(?: seconds)? \((\d+)(?: s)?\)", text)
        assert stated and {float(value) for value in stated} == {grace}, f"{name} states the grace {stated}"
        timeouts = [
            *re.findall(r"docker stop -t (\d+)", text),
            *re.findall(r"stop_grace_period: (\d+)s", text),
            *re.findall(r"terminationGracePeriodSeconds: (\d+)", text),
        ]
        assert len(timeouts) >= 3, f"{name} says how long Docker, Compose and Kubernetes should wait"
        assert all(int(value) > grace for value in timeouts), f"{name} suggests a stop timeout within the grace"
    assert "STOPSIGNAL SIGTERM" in dockerfile
