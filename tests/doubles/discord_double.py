"""A local Discord: REST API, gateway websocket, CDN and media proxy on 127.0.0.1.

The real discord.py client talks to it unmodified: only ``DISCORD_API_BASE_URL``
(``base_url``) and ``DISCORD_GATEWAY_URL`` (``gateway_url``) point here.

    async with DiscordDouble() as discord_api:
        guild = discord_api.add_guild("Studio")
        channel = discord_api.add_channel(guild, "art")
        alice = discord_api.add_user("alice")
        discord_api.make_moderator(guild, mo)                 # a role with Manage Messages
        starter = await discord_api.post_message(channel, alice, "refs", files=[("a.png", png)])
        thread = await discord_api.start_thread(starter)      # thread id == starter id, as on Discord
        ask = await discord_api.slash_command(thread, alice, "merge", {"prompt": "..."}, files={"image1": (...)})
        press = await discord_api.press(message, alice, custom_id)      # a button
        pick = await discord_api.choose(message, alice, custom_id, ["B"])  # a select menu
        menu = await discord_api.message_command(channel, alice, "Merge images from here", target)
        sent = await discord_api.submit_modal(press, alice, {"prompt": "new text"})
        await discord_api.react(message, alice, "🔁")
        found = await discord_api.wait_for(lambda: ...)     # re-checked after every request and event

What the bot did: ``channel_messages`` / ``bot_messages`` (ephemeral ones on request),
``message(id)``, ``requests`` (every REST call with its body and files), ``interactions``
(callback types, the modal opened), ``identifies``, ``commands`` (what sync registered),
``cdn_hits`` (which CDN and media proxy URLs were fetched, with their width/height),
``reactors(message, emoji)`` (who has that reaction on it now).

Knobs: ``DiscordDouble(message_content_intent=False)`` (the gateway refuses the intent with
close code 4014 and strips content from history, as Discord does), ``upload_limit=`` (413
above it; also the interactions' ``attachment_size_limit``), ``fail_next(method, path,
status, when=...)`` (an error for the next matching request; 429s carry ``retry_after``),
``expire_interaction_tokens()`` (the 15-minute window has passed), ``bot_permissions=``
(the bot's managed role; removing someone else's reaction needs Manage Messages, else 403).

Every JSON body the bot sends is validated against Discord's OpenAPI document
(``tests/specs/discord-openapi.json``, loaded once per process); violations land
in ``spec_errors`` and are answered with Discord's 400 "Invalid Form Body".
"""

from __future__ import annotations

import asyncio
import copy
import io
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import BodyPartReader, WSMsgType, web

from tests.doubles.server import serve_locally
from tests.doubles.specs import spec_path

logger = logging.getLogger(__name__)

SPEC_URI = "urn:discord-openapi"
API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1420070400000

INTENT_MESSAGE_CONTENT = 1 << 15
FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18
FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
MESSAGE_FLAG_EPHEMERAL = 64
MESSAGE_FLAG_LOADING = 128

PERMISSION_VIEW_CHANNEL = 1 << 10
PERMISSION_SEND_MESSAGES = 1 << 11
PERMISSION_MANAGE_MESSAGES = 1 << 13
PERMISSION_EMBED_LINKS = 1 << 14
PERMISSION_ATTACH_FILES = 1 << 15
PERMISSION_READ_MESSAGE_HISTORY = 1 << 16
PERMISSION_ADD_REACTIONS = 1 << 6
PERMISSION_USE_APPLICATION_COMMANDS = 1 << 31
PERMISSION_SEND_MESSAGES_IN_THREADS = 1 << 38
MEMBER_PERMISSIONS = (
    PERMISSION_VIEW_CHANNEL
    | PERMISSION_SEND_MESSAGES
    | PERMISSION_EMBED_LINKS
    | PERMISSION_ATTACH_FILES
    | PERMISSION_READ_MESSAGE_HISTORY
    | PERMISSION_ADD_REACTIONS
    | PERMISSION_USE_APPLICATION_COMMANDS
    | PERMISSION_SEND_MESSAGES_IN_THREADS
)
BOT_PERMISSIONS = MEMBER_PERMISSIONS | PERMISSION_MANAGE_MESSAGES  # what ``mergebot discord invite`` asks for
DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # a guild without boosts
BODY_KEY: web.RequestKey[Any] = web.RequestKey("discord_double_body", object)
FILES_KEY: web.RequestKey[Mapping[str, tuple[str, bytes]]] = web.RequestKey("discord_double_files", dict)


# ---------------------------------------------------------------- spec checking


@cache
def _spec() -> dict[str, Any]:
    """The OpenAPI document, loaded once per process (it is 1.2 MB)."""
    with spec_path("discord-openapi.json").open() as handle:
        loaded: dict[str, Any] = json.load(handle)
    return loaded


@cache
def _request_validator(spec_path: str, method: str) -> Any:
    """A JSON Schema validator for the JSON request body of one operation, or None."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    operation = _spec()["paths"].get(spec_path, {}).get(method.lower())
    if operation is None or "requestBody" not in operation:
        return None
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(_spec()))
    return Draft202012Validator(_absolute_refs(schema), registry=registry)


def _absolute_refs(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: (SPEC_URI + value if key == "$ref" and value.startswith("#") else _absolute_refs(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_absolute_refs(item) for item in node]
    return node


def spec_violations(spec_path: str, method: str, body: Any) -> list[str]:
    """Why ``body`` does not match the spec's request schema for ``method spec_path``."""
    if spec_path not in _spec()["paths"]:
        return [f"{method} {spec_path} is not in the Discord OpenAPI document"]
    validator = _request_validator(spec_path, method)
    if validator is None:
        return []
    body = _normalise_for_spec(body)
    errors = [
        f"{method} {spec_path}: {'/'.join(str(p) for p in error.absolute_path)}: {error.message[:300]}"
        for error in validator.iter_errors(body)
    ]
    return errors + _docs_violations(spec_path, method, body)


MAX_CONTENT_DOCS = 2000  # the docs' limit for message content; the preview spec says 4000


def _docs_violations(spec_path: str, method: str, body: Any) -> list[str]:
    """Where Discord's documentation is stricter than the preview spec (the spec README says: follow the docs)."""
    if not isinstance(body, dict):
        return []
    message = body.get("data") if "/callback" in spec_path else body
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str) and len(content) > MAX_CONTENT_DOCS:
        return [f"{method} {spec_path}: content: must be {MAX_CONTENT_DOCS} or fewer in length"]
    return []


def _normalise_for_spec(body: Any) -> Any:
    """Three ways discord.py writes ids that Discord accepts but the schema types as string snowflakes.

    ``attachments[].id`` is an integer index into the uploaded files, and ``message_reference`` ids
    and ``allowed_mentions`` users and roles are integers (Discord takes snowflakes as numbers or strings).
    """
    if not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    mentions = body.get("allowed_mentions")
    if isinstance(mentions, dict):
        for key in ("users", "roles"):
            if isinstance(mentions.get(key), list):
                mentions[key] = [str(item) if isinstance(item, int) else item for item in mentions[key]]
    reference = body.get("message_reference")
    if isinstance(reference, dict):
        for key in ("message_id", "channel_id", "guild_id"):
            if isinstance(reference.get(key), int):
                reference[key] = str(reference[key])
    targets = [body]
    if isinstance(body.get("data"), dict):
        targets.append(body["data"])
    for target in targets:
        for attachment in target.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("id"), int):
                attachment["id"] = str(attachment["id"])
    return body


# ---------------------------------------------------------------- state


def _timestamp() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Recorded:
    """One REST request the bot made."""

    method: str
    path: str  # the spec's path template, e.g. /channels/{channel_id}/messages
    url_path: str
    query: dict[str, str]
    body: Any
    files: dict[str, tuple[str, bytes]]  # form field -> (filename, bytes)


@dataclass
class Interaction:
    """An interaction the double sent, and what the bot answered."""

    id: str
    token: str
    payload: dict[str, Any]
    channel_id: str
    responses: list[dict[str, Any]] = field(default_factory=list)  # callback bodies
    original_message_id: str | None = None
    modal: dict[str, Any] | None = None
    responded: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def response_types(self) -> list[int]:
        return [int(r["type"]) for r in self.responses]


class DoubleError(Exception):
    """A request the double answers with a Discord error body."""

    def __init__(self, status: int, code: int, message: str, errors: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


class DiscordDouble:
    """Discord's REST API, gateway and CDN for one test."""

    def __init__(
        self,
        *,
        token: str = "test-bot-token",
        message_content_intent: bool = True,
        upload_limit: int = DEFAULT_UPLOAD_LIMIT,
        bot_permissions: int = BOT_PERMISSIONS,
    ) -> None:
        self.token = token
        self.bot_permissions = bot_permissions
        self.message_content_intent = message_content_intent
        self.upload_limit = upload_limit
        self._ids = itertools.count(1)
        self._id_base = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self.application_id = self.snowflake()
        self.bot_user: dict[str, Any] = {
            "id": self.application_id,
            "username": "mergebot",
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        }
        self.users: dict[str, dict[str, Any]] = {self.application_id: self.bot_user}
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self.member_roles: dict[tuple[str, str], list[str]] = {}  # (guild, user) -> role ids
        self.reactions: dict[tuple[str, str], list[str]] = {}  # (message id, emoji) -> user ids, in order
        self.cdn: dict[str, tuple[bytes, str]] = {}  # path -> (bytes, content type)
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # guild id (None = global) -> commands
        self.interactions: dict[str, Interaction] = {}
        self.expired_tokens: set[str] = set()
        self.requests: list[Recorded] = []
        self.spec_errors: list[str] = []
        self.identifies: list[dict[str, Any]] = []
        self.cdn_hits: list[tuple[str, dict[str, str]]] = []  # (path, query) of every CDN and media proxy GET
        self.fail_queue: list[tuple[str, str, int, dict[str, Any], Callable[[Recorded], bool]]] = []
        self._sockets: list[_GatewaySession] = []
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle

    async def __aenter__(self) -> DiscordDouble:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._middleware])
        self._routes(app)
        self._runner, self.port = await serve_locally(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in list(self._sockets):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What DISCORD_API_BASE_URL should be."""
        return self.root_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """What DISCORD_GATEWAY_URL should be."""
        return f"ws://127.0.0.1:{self.port}/gateway/"

    # -- ids and changes

    def snowflake(self) -> str:
        return str(self._id_base + next(self._ids))

    def _snowflake_on_shard(self, shard_id: int, shard_count: int) -> str:
        # A snowflake's shard is (id >> 22) % count: step the timestamp bits until it fits.
        base = int(self.snowflake())
        for step in range(shard_count):
            candidate = base + (step << 22)
            if shard_of(candidate, shard_count) == shard_id:
                return str(candidate)
        raise AssertionError("unreachable: some step lands on every shard")

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, predicate: Callable[[], Any], within: float = 15.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked after every change); return its value."""

        async def waiting() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    await self._changed.wait()

        return await asyncio.wait_for(waiting(), within)

    # -- world building

    def add_user(self, name: str) -> dict[str, Any]:
        user_id = self.snowflake()
        user: dict[str, Any] = {
            "id": user_id,
            "username": name,
            "global_name": name.title(),
            "discriminator": "0",
            "avatar": None,
        }
        self.users[user_id] = user
        return user

    def add_guild(
        self, name: str = "Studio", *, premium_tier: int = 0, shard: tuple[int, int] | None = None
    ) -> dict[str, Any]:
        """A guild; ``shard=(id, count)`` gives it an id that shard ``id`` of ``count`` owns."""
        guild_id = self.snowflake() if shard is None else self._snowflake_on_shard(*shard)
        moderator_role = self.snowflake()
        bot_role = self.snowflake()
        guild = {
            "id": guild_id,
            "name": name,
            "owner_id": self.snowflake(),
            "premium_tier": premium_tier,
            "roles": [
                _role(guild_id, "@everyone", MEMBER_PERMISSIONS, 0),
                _role(moderator_role, "Moderators", MEMBER_PERMISSIONS | PERMISSION_MANAGE_MESSAGES, 1),
                # Discord gives an invited bot a managed role with the permissions of its invite URL.
                {**_role(bot_role, "mergebot", self.bot_permissions, 2), "managed": True},
            ],
            "moderator_role_id": moderator_role,
        }
        self.guilds[guild_id] = guild
        self.member_roles[(guild_id, self.application_id)] = [bot_role]
        return guild

    def add_channel(self, guild: Mapping[str, Any], name: str) -> dict[str, Any]:
        channel = {
            "id": self.snowflake(),
            "type": 0,
            "guild_id": guild["id"],
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
        }
        self.channels[channel["id"]] = channel
        self.messages[channel["id"]] = []
        return channel

    def make_moderator(self, guild: Mapping[str, Any], user: Mapping[str, Any]) -> None:
        self.member_roles[(guild["id"], user["id"])] = [guild["moderator_role_id"]]

    async def start_thread(
        self, message: Mapping[str, Any], name: str = "refs"
    ) -> dict[str, Any]:
        """A public thread started from ``message`` (the thread's id is the message's id, as on Discord)."""
        parent = self.channels[message["channel_id"]]
        thread = {
            "id": message["id"],
            "type": 11,
            "guild_id": parent["guild_id"],
            "parent_id": parent["id"],
            "name": name,
            "owner_id": message["author"]["id"],
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _timestamp(),
                "locked": False,
                "create_timestamp": _timestamp(),
            },
        }
        self.channels[thread["id"]] = thread
        self.messages[thread["id"]] = []
        await self.dispatch("THREAD_CREATE", {**thread, "newly_created": True})
        # Discord opens such a thread with a system message pointing at the starter in the parent channel.
        opener = self._new_message(thread["id"], dict(message["author"]), "", [], [])
        opener["type"] = 21
        opener["message_reference"] = {
            "type": 0,
            "message_id": message["id"],
            "channel_id": parent["id"],
            "guild_id": parent["guild_id"],
        }
        await self._store_and_announce(opener)
        return thread

    def upload(self, channel_id: str, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        """Put a file on the CDN and return its attachment object."""
        attachment_id = self.snowflake()
        path = f"/attachments/{channel_id}/{attachment_id}/{quote(filename)}"
        self.cdn[path] = (data, content_type)
        attachment: dict[str, Any] = {
            "id": attachment_id,
            "filename": filename,
            "size": len(data),
            "url": f"{self.root_url}{path}",
            "proxy_url": f"{self.root_url}/media{path}",
            "content_type": content_type,
        }
        dimensions = _image_size(data)
        if dimensions is not None:
            attachment["width"], attachment["height"] = dimensions
        return attachment

    async def post_message(
        self,
        channel: Mapping[str, Any],
        author: Mapping[str, Any],
        content: str = "",
        *,
        files: Iterable[tuple[str, bytes]] = (),
        embeds: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A person posts a message (with attachments); the bot gets MESSAGE_CREATE."""
        attachments = [self.upload(channel["id"], name, data, _content_type(name, data)) for name, data in files]
        message = self._new_message(channel["id"], dict(author), content, attachments, list(embeds))
        await self._store_and_announce(message)
        return message

    def _new_message(
        self,
        channel_id: str,
        author: dict[str, Any],
        content: str,
        attachments: list[dict[str, Any]],
        embeds: list[dict[str, Any]],
        *,
        components: list[dict[str, Any]] | None = None,
        flags: int = 0,
        interaction: Interaction | None = None,
        webhook_id: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "id": self.snowflake(),
            "channel_id": channel_id,
            "author": author,
            "content": content,
            "timestamp": _timestamp(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": embeds,
            "pinned": False,
            "type": 0,
            "flags": flags,
            "components": components or [],
            "reactions": [],
        }
        guild_id = self.channels[channel_id].get("guild_id")
        if guild_id:
            message["guild_id"] = guild_id
        if webhook_id:
            message["webhook_id"] = webhook_id
        if interaction is not None:
            data = interaction.payload["data"]
            user = interaction.payload["member"]["user"]
            message["type"] = 20 if interaction.payload["type"] == 2 and data.get("type", 1) == 1 else 0
            message["interaction_metadata"] = {
                "id": interaction.id,
                "type": interaction.payload["type"],
                "user": user,
                "authorizing_integration_owners": {},
            }
        return message

    async def _store_and_announce(self, message: dict[str, Any]) -> None:
        channel_id = message["channel_id"]
        self.messages[channel_id].append(message)
        self.channels[channel_id]["last_message_id"] = message["id"]
        if not message["flags"] & MESSAGE_FLAG_EPHEMERAL:
            await self.dispatch("MESSAGE_CREATE", self._gateway_message(message))
        await self._notify()

    def _gateway_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as the gateway sends it: stripped of content without the intent, plus member."""
        data = self._visible(message)
        guild_id = data.get("guild_id")
        if guild_id and not data["author"].get("bot"):
            data["member"] = self._member(guild_id, data["author"]["id"], with_user=False)
        return data

    def _visible(self, message: dict[str, Any]) -> dict[str, Any]:
        """Without the message-content intent, others' messages come without content, files and embeds."""
        data = copy.deepcopy(message)
        if not self.message_content_intent and data["author"]["id"] != self.application_id:
            data.update(content="", attachments=[], embeds=[], components=[])
        return data

    def _member(self, guild_id: str, user_id: str, *, with_user: bool = True) -> dict[str, Any]:
        roles = self.member_roles.get((guild_id, user_id), [])
        member: dict[str, Any] = {
            "roles": roles,
            "joined_at": _timestamp(),
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
        }
        if with_user:
            member["user"] = self.users[user_id]
        return member

    def _permissions(self, guild_id: str, user_id: str) -> int:
        guild = self.guilds[guild_id]
        roles = {role["id"]: int(role["permissions"]) for role in guild["roles"]}
        value = roles[guild_id]
        for role_id in self.member_roles.get((guild_id, user_id), []):
            value |= roles[role_id]
        return value

    # -- reading what the bot did

    def channel_messages(self, channel: Mapping[str, Any] | str, *, ephemeral: bool = False) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first; ephemeral ones only when asked."""
        channel_id = channel if isinstance(channel, str) else channel["id"]
        return [
            m
            for m in self.messages[channel_id]
            if bool(m["flags"] & MESSAGE_FLAG_EPHEMERAL) == ephemeral
        ]

    def bot_messages(self, channel: Mapping[str, Any] | str, *, ephemeral: bool = False) -> list[dict[str, Any]]:
        return [
            m
            for m in self.channel_messages(channel, ephemeral=ephemeral)
            if m["author"]["id"] == self.application_id
        ]

    def message(self, message_id: str) -> dict[str, Any] | None:
        for messages in self.messages.values():
            for message in messages:
                if message["id"] == message_id:
                    return message
        return None

    def attachment_bytes(self, attachment: Mapping[str, Any]) -> bytes:
        path = str(attachment["url"]).removeprefix(self.root_url)
        return self.cdn[path][0]

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def fail_next(
        self,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        when: Callable[[Recorded], bool] | None = None,
    ) -> None:
        """Answer the next ``method path`` (spec template) with an error, e.g. a 429 or a 500.

        ``when`` narrows it to the next such request it accepts (e.g. one uploading the result).
        """
        self.fail_queue.append(
            (method, path, status, body or {"message": "Injected failure", "code": 0}, when or (lambda _: True))
        )

    def expire_interaction_tokens(self) -> None:
        """The 15-minute interaction window has passed for every interaction so far."""
        self.expired_tokens.update(i.token for i in self.interactions.values())

    # -- people doing things (gateway dispatches)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event to the session whose shard owns its guild (Discord's sharding rule)."""
        for session in list(self._sockets):
            if session.ready and session.owns(data.get("guild_id")):
                await session.send_dispatch(event, data)

    def _interaction(
        self, kind: int, channel: Mapping[str, Any], user: Mapping[str, Any], data: dict[str, Any],
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        interaction_id = self.snowflake()
        token = f"itoken-{interaction_id}"
        guild_id = channel["guild_id"]
        member = self._member(guild_id, user["id"])
        member["permissions"] = str(self._permissions(guild_id, user["id"]))
        channel_payload = {k: v for k, v in channel.items() if k != "last_message_id"}
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": self.application_id,
            "type": kind,
            "data": data,
            "guild_id": guild_id,
            "guild": {"id": guild_id, "locale": "en-US", "features": []},
            "channel_id": channel["id"],
            "channel": channel_payload,
            "member": member,
            "token": token,
            "version": 1,
            "app_permissions": str(self._permissions(guild_id, self.application_id)),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": guild_id},
            "context": 0,
            "attachment_size_limit": self.upload_limit,
        }
        if message is not None:
            payload["message"] = self._visible(message)
        interaction = Interaction(interaction_id, token, payload, channel["id"])
        self.interactions[interaction_id] = interaction
        return interaction

    async def slash_command(
        self,
        channel: Mapping[str, Any],
        user: Mapping[str, Any],
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes]] | None = None,
    ) -> Interaction:
        """``user`` runs ``/name`` with string/number ``options`` and attachment options ``files``."""
        command = self._command(name, 1, channel)
        option_payload: list[dict[str, Any]] = [
            {"name": key, "type": _option_type(value), "value": value} for key, value in (options or {}).items()
        ]
        resolved: dict[str, Any] = {}
        for key, (filename, data) in (files or {}).items():
            attachment = self.upload(channel["id"], filename, data, _content_type(filename, data))
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            option_payload.append({"name": key, "type": 11, "value": attachment["id"]})
        data_payload: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "options": option_payload}
        if resolved:
            data_payload["resolved"] = resolved
        return await self._send_interaction(self._interaction(2, channel, user, data_payload))

    async def message_command(
        self, channel: Mapping[str, Any], user: Mapping[str, Any], name: str, target: Mapping[str, Any]
    ) -> Interaction:
        """``user`` picks ``name`` from the Apps menu of message ``target``."""
        command = self._command(name, 3, channel)
        data = {
            "id": command["id"],
            "name": name,
            "type": 3,
            "target_id": target["id"],
            # Interactions carry the target's content even without the Message Content intent.
            "resolved": {"messages": {target["id"]: copy.deepcopy(dict(target))}},
        }
        return await self._send_interaction(self._interaction(2, channel, user, data))

    async def press(self, message: Mapping[str, Any], user: Mapping[str, Any], custom_id: str) -> Interaction:
        """``user`` presses the button ``custom_id`` on ``message``."""
        if custom_id not in _custom_ids(message.get("components", []), component_type=2):
            raise AssertionError(f"no button {custom_id!r} on message {message['id']}")
        channel = self.channels[message["channel_id"]]
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._send_interaction(self._interaction(3, channel, user, data, dict(message)))

    async def choose(
        self, message: Mapping[str, Any], user: Mapping[str, Any], custom_id: str, values: list[str]
    ) -> Interaction:
        """``user`` picks ``values`` in the select menu ``custom_id`` on ``message``."""
        if custom_id not in _custom_ids(message.get("components", []), component_type=3):
            raise AssertionError(f"no select {custom_id!r} on message {message['id']}")
        channel = self.channels[message["channel_id"]]
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        return await self._send_interaction(self._interaction(3, channel, user, data, dict(message)))

    async def submit_modal(
        self,
        opened_by: Interaction,
        user: Mapping[str, Any],
        values: Mapping[str, str],
        *,
        files: Mapping[str, tuple[str, bytes]] | None = None,
    ) -> Interaction:
        """``user`` fills the modal the bot opened in answer to ``opened_by`` (text input custom_id -> text;
        ``files``: file upload custom_id -> (filename, bytes), uploaded to the CDN as Discord does and
        answered as attachment ids with the attachments in ``resolved``)."""
        modal = opened_by.modal
        if modal is None:
            raise AssertionError("the bot did not open a modal")
        channel = self.channels[opened_by.channel_id]
        uploads: dict[str, dict[str, Any]] = {}
        for custom_id, (filename, data_bytes) in (files or {}).items():
            uploads[custom_id] = self.upload(channel["id"], filename, data_bytes, _content_type(filename, data_bytes))
        components = [_modal_answer(component, values, uploads) for component in modal["components"]]
        missing = set(uploads) - _file_upload_ids(modal["components"])
        if missing:
            raise AssertionError(f"the modal has no file upload {sorted(missing)}")
        data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
        if uploads:
            data["resolved"] = {"attachments": {a["id"]: a for a in uploads.values()}}
        source = opened_by.payload.get("message")
        return await self._send_interaction(self._interaction(5, channel, user, data, source))

    async def react(self, message: Mapping[str, Any], user: Mapping[str, Any], emoji: str) -> None:
        """``user`` adds the unicode reaction ``emoji`` to ``message``."""
        channel = self.channels[message["channel_id"]]
        self._react(message["id"], emoji, user["id"])
        data: dict[str, Any] = {
            "user_id": user["id"],
            "channel_id": channel["id"],
            "message_id": message["id"],
            "emoji": {"id": None, "name": emoji},
            "type": 0,
            "burst": False,
            "message_author_id": message["author"]["id"],
        }
        if channel.get("guild_id"):
            data["guild_id"] = channel["guild_id"]
            data["member"] = self._member(channel["guild_id"], user["id"])
        await self.dispatch("MESSAGE_REACTION_ADD", data)

    def reactors(self, message: Mapping[str, Any], emoji: str) -> list[str]:
        """Ids of the users whose ``emoji`` reaction is on ``message`` now."""
        return list(self.reactions.get((message["id"], emoji), []))

    def _react(self, message_id: str, emoji: str, user_id: str) -> None:
        users = self.reactions.setdefault((message_id, emoji), [])
        if user_id not in users:
            users.append(user_id)

    def _command(self, name: str, kind: int, channel: Mapping[str, Any]) -> dict[str, Any]:
        registered = self.commands.get(channel.get("guild_id"), []) + self.commands.get(None, [])
        for command in registered:
            if command["name"] == name and command.get("type", 1) == kind:
                return command
        return {"id": self.snowflake(), "name": name, "type": kind}

    async def _send_interaction(self, interaction: Interaction) -> Interaction:
        await self.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    # -- HTTP plumbing

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else request.path
        if not template.startswith(API_PREFIX):
            response: web.StreamResponse = await handler(request)
            return response
        spec_path = template.removeprefix(API_PREFIX)
        authorization = request.headers.get("Authorization", "")
        needs_bot_auth = not spec_path.startswith(("/webhooks/", "/interactions/"))
        if needs_bot_auth and authorization != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        body, files = await _read_body(request)
        recorded = Recorded(request.method, spec_path, request.path, dict(request.query), body, files)
        self.requests.append(recorded)
        for index, (method, path, status, payload, when) in enumerate(self.fail_queue):
            if method == request.method and path == spec_path and when(recorded):
                del self.fail_queue[index]
                # Discord answers through Google's load balancer ("Via: 1.1 google"); discord.py takes
                # a 429 without it for a Cloudflare ban and raises instead of waiting it out.
                limited = {"Retry-After": "0.05", "X-RateLimit-Scope": "user", "Via": "1.1 google"}
                headers = limited if status == 429 else {}
                if status == 429:
                    payload = {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
                await self._notify()
                return _json(payload, status=status, headers=headers)
        if body is not None and request.method in ("POST", "PUT", "PATCH"):
            errors = spec_violations(spec_path, request.method, body)
            if errors:
                self.spec_errors.extend(errors)
                logger.error("spec violation: %s", errors)
                details = {"_errors": [{"code": "SPEC", "message": error} for error in errors]}
                return _error(400, 50035, "Invalid Form Body", details)
        request[BODY_KEY] = body
        request[FILES_KEY] = files
        try:
            response = await handler(request)
        except DoubleError as exc:
            response = _error(exc.status, exc.code, exc.message, exc.errors)
        await self._notify()
        return response

    def _routes(self, app: web.Application) -> None:
        p = API_PREFIX
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_get("/attachments/{channel}/{attachment}/{filename}", self._cdn)
        app.router.add_get("/media/attachments/{channel}/{attachment}/{filename}", self._media)
        app.router.add_get(p + "/gateway", self._get_gateway)
        app.router.add_get(p + "/gateway/bot", self._get_gateway)
        app.router.add_get(p + "/users/@me", self._get_me)
        app.router.add_get(p + "/oauth2/applications/@me", self._get_application)
        app.router.add_put(p + "/applications/{application_id}/commands", self._put_commands)
        app.router.add_get(p + "/applications/{application_id}/commands", self._get_commands)
        app.router.add_put(p + "/applications/{application_id}/guilds/{guild_id}/commands", self._put_commands)
        app.router.add_get(p + "/applications/{application_id}/guilds/{guild_id}/commands", self._get_commands)
        app.router.add_post(p + "/interactions/{interaction_id}/{interaction_token}/callback", self._callback)
        app.router.add_post(p + "/webhooks/{webhook_id}/{webhook_token}", self._followup)
        for message_path in ("@original", "{message_id}"):
            route = p + "/webhooks/{webhook_id}/{webhook_token}/messages/" + message_path
            app.router.add_get(route, self._webhook_get)
            app.router.add_patch(route, self._webhook_edit)
            app.router.add_delete(route, self._webhook_delete)
        app.router.add_get(p + "/channels/{channel_id}", self._get_channel)
        app.router.add_get(p + "/channels/{channel_id}/messages", self._list_messages)
        app.router.add_post(p + "/channels/{channel_id}/messages", self._create_message)
        app.router.add_get(p + "/channels/{channel_id}/messages/{message_id}", self._get_message)
        app.router.add_patch(p + "/channels/{channel_id}/messages/{message_id}", self._edit_message)
        app.router.add_delete(p + "/channels/{channel_id}/messages/{message_id}", self._delete_message)
        reaction = p + "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}"
        app.router.add_put(reaction + "/@me", self._add_reaction)
        app.router.add_delete(reaction + "/@me", self._remove_reaction)
        app.router.add_delete(reaction + "/{user_id}", self._remove_reaction)
        app.router.add_get(p + "/guilds/{guild_id}/members/{user_id}", self._get_member)

    # -- REST handlers

    async def _get_gateway(self, request: web.Request) -> web.Response:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url.rstrip("/"), "shards": 1, "session_start_limit": limit})

    async def _get_me(self, request: web.Request) -> web.Response:
        return _json(self.bot_user)

    def _application_flags(self) -> int:
        return FLAG_GATEWAY_MESSAGE_CONTENT_LIMITED if self.message_content_intent else 0

    async def _get_application(self, request: web.Request) -> web.Response:
        return _json(
            {
                "id": self.application_id,
                "name": "mergebot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "flags": self._application_flags(),
                "owner": self.users[next(iter(self.users))],
                "team": None,
                "interactions_endpoint_url": None,
                "bot": self.bot_user,
            }
        )

    async def _put_commands(self, request: web.Request) -> web.Response:
        guild_id = request.match_info.get("guild_id")
        stored = []
        for command in request[BODY_KEY]:
            stored.append(
                {
                    "description": "",
                    "options": [],
                    "nsfw": False,
                    **command,
                    "id": self.snowflake(),
                    "application_id": self.application_id,
                    "version": self.snowflake(),
                    "type": command.get("type", 1),
                    "guild_id": guild_id,
                    "default_member_permissions": command.get("default_member_permissions"),
                }
            )
        self.commands[guild_id] = stored
        return _json(stored)

    async def _get_commands(self, request: web.Request) -> web.Response:
        return _json(self.commands.get(request.match_info.get("guild_id"), []))

    def _live_interaction(self, interaction_id: str | None, token: str) -> Interaction:
        if token in self.expired_tokens:
            raise DoubleError(401, 50027, "Invalid Webhook Token")
        for interaction in self.interactions.values():
            if interaction.token == token and (interaction_id is None or interaction.id == interaction_id):
                return interaction
        raise DoubleError(404, 10015, "Unknown Webhook")

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self._live_interaction(
            request.match_info["interaction_id"], request.match_info["interaction_token"]
        )
        if interaction.responses:
            raise DoubleError(400, 40060, "Interaction has already been acknowledged.")
        body = request[BODY_KEY]
        kind = int(body["type"])
        data = body.get("data") or {}
        interaction.responses.append(body)
        message: dict[str, Any] | None = None
        source = interaction.payload.get("message")
        if kind in (4, 5):
            flags = int(data.get("flags", 0)) & MESSAGE_FLAG_EPHEMERAL
            if kind == 5:
                flags |= MESSAGE_FLAG_LOADING
            message = self._build_message(interaction.channel_id, data, request[FILES_KEY], interaction, flags)
            interaction.original_message_id = message["id"]
            await self._store_and_announce(message)
        elif kind in (6, 7) and source is not None:
            interaction.original_message_id = source["id"]
            if kind == 7:
                message = await self._apply_edit(source["id"], data, request[FILES_KEY])
        elif kind == 9:
            interaction.modal = data
        elif kind not in (6, 7):
            raise DoubleError(400, 50035, f"Invalid interaction response type {kind}")
        interaction.responded.set()
        response: dict[str, Any] = {
            "interaction": {
                "id": interaction.id,
                "type": interaction.payload["type"],
                "response_message_id": interaction.original_message_id,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message["flags"] & MESSAGE_FLAG_EPHEMERAL),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            response["resource"]["message"] = self._visible(message)
        if request.query.get("with_response") in ("1", "true", "True"):
            return _json(response)
        return web.Response(status=204)

    def _build_message(
        self,
        channel_id: str,
        data: Mapping[str, Any],
        files: Mapping[str, tuple[str, bytes]],
        interaction: Interaction | None,
        flags: int,
    ) -> dict[str, Any]:
        attachments = self._attachments(channel_id, data.get("attachments") or [], files, keep=[])
        return self._new_message(
            channel_id,
            self.bot_user,
            data.get("content") or "",
            attachments,
            list(data.get("embeds") or []),
            components=list(data.get("components") or []),
            flags=flags | (int(data.get("flags", 0)) & MESSAGE_FLAG_EPHEMERAL),
            interaction=interaction,
            webhook_id=self.application_id if interaction is not None else None,
        )

    def _attachments(
        self,
        channel_id: str,
        described: list[dict[str, Any]],
        files: Mapping[str, tuple[str, bytes]],
        keep: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """New uploads (``files[n]`` matched to ``attachments[].id == n``) plus kept existing ones."""
        existing = {a["id"]: a for a in keep}
        result: list[dict[str, Any]] = []
        for item in described:
            item_id = str(item.get("id"))
            if item_id in existing:
                result.append(existing[item_id])
                continue
            upload = files.get(f"files[{item_id}]")
            if upload is None:
                raise DoubleError(400, 50035, f"attachments[{item_id}] has no files[{item_id}] part")
            filename, blob = upload
            if len(blob) > self.upload_limit:
                raise DoubleError(413, 40005, "Request entity too large")
            name = item.get("filename") or filename
            result.append(self.upload(channel_id, name, blob, _content_type(filename, blob)))
        return result

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._live_interaction(None, request.match_info["webhook_token"])
        if not interaction.responses:
            raise DoubleError(400, 40060, "Interaction has not been acknowledged.")
        body = request[BODY_KEY] or {}
        message = self._build_message(interaction.channel_id, body, request[FILES_KEY], interaction, 0)
        await self._store_and_announce(message)
        if request.query.get("wait") in ("1", "true", "True"):
            return _json(self._visible(message))
        return web.Response(status=204)

    def _webhook_message(self, request: web.Request) -> dict[str, Any]:
        interaction = self._live_interaction(None, request.match_info["webhook_token"])
        message_id = request.match_info.get("message_id") or interaction.original_message_id
        message = self.message(message_id) if message_id else None
        if message is None:
            raise DoubleError(404, 10008, "Unknown Message")
        return message

    async def _webhook_get(self, request: web.Request) -> web.Response:
        return _json(self._visible(self._webhook_message(request)))

    async def _webhook_edit(self, request: web.Request) -> web.Response:
        message = self._webhook_message(request)
        edited = await self._apply_edit(message["id"], request[BODY_KEY] or {}, request[FILES_KEY])
        return _json(self._visible(edited))

    async def _webhook_delete(self, request: web.Request) -> web.Response:
        message = self._webhook_message(request)
        await self._remove(message)
        return web.Response(status=204)

    async def _apply_edit(
        self, message_id: str, data: Mapping[str, Any], files: Mapping[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        message = self.message(message_id)
        if message is None:
            raise DoubleError(404, 10008, "Unknown Message")
        if message["author"]["id"] != self.application_id:
            raise DoubleError(403, 50005, "Cannot edit a message authored by another user")
        if "content" in data:
            message["content"] = data["content"] or ""
        if "embeds" in data:
            message["embeds"] = list(data["embeds"] or [])
        if "components" in data:
            message["components"] = list(data["components"] or [])
        if "attachments" in data:
            message["attachments"] = self._attachments(
                message["channel_id"], list(data["attachments"] or []), files, keep=message["attachments"]
            )
        message["flags"] &= ~MESSAGE_FLAG_LOADING
        message["edited_timestamp"] = _timestamp()
        if not message["flags"] & MESSAGE_FLAG_EPHEMERAL:
            await self.dispatch("MESSAGE_UPDATE", self._gateway_message(message))
        return message

    async def _remove(self, message: dict[str, Any]) -> None:
        self.messages[message["channel_id"]].remove(message)
        payload = {"id": message["id"], "channel_id": message["channel_id"]}
        if message.get("guild_id"):
            payload["guild_id"] = message["guild_id"]
        await self.dispatch("MESSAGE_DELETE", payload)

    def _channel(self, request: web.Request) -> dict[str, Any]:
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            raise DoubleError(404, 10003, "Unknown Channel")
        return channel

    def _channel_message(self, request: web.Request) -> dict[str, Any]:
        channel = self._channel(request)
        for message in self.messages[channel["id"]]:
            if message["id"] == request.match_info["message_id"]:
                return message
        raise DoubleError(404, 10008, "Unknown Message")

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self._channel(request))

    async def _list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        limit = int(request.query.get("limit", "50"))
        if not 1 <= limit <= 100:
            raise DoubleError(400, 50035, "limit must be between 1 and 100")
        visible = [m for m in self.messages[channel["id"]] if not m["flags"] & MESSAGE_FLAG_EPHEMERAL]
        if "after" in request.query:
            after = int(request.query["after"])
            chosen = [m for m in visible if int(m["id"]) > after][:limit]
        elif "before" in request.query:
            before = int(request.query["before"])
            chosen = [m for m in visible if int(m["id"]) < before][-limit:]
        else:
            chosen = visible[-limit:]
        return _json([self._visible(m) for m in reversed(chosen)])  # newest first, as Discord

    async def _create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        message = self._build_message(channel["id"], request[BODY_KEY] or {}, request[FILES_KEY], None, 0)
        reference = (request[BODY_KEY] or {}).get("message_reference")
        if reference:
            ids = {k: str(v) for k, v in reference.items() if k in ("message_id", "guild_id") and v is not None}
            message["message_reference"] = {"type": 0, **ids, "channel_id": channel["id"]}
            message["type"] = 19
        await self._store_and_announce(message)
        return _json(self._visible(message))

    async def _get_message(self, request: web.Request) -> web.Response:
        return _json(self._visible(self._channel_message(request)))

    async def _edit_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        edited = await self._apply_edit(message["id"], request[BODY_KEY] or {}, request[FILES_KEY])
        return _json(self._visible(edited))

    async def _delete_message(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        guild_id = message.get("guild_id")
        others = message["author"]["id"] != self.application_id and guild_id
        if others and not self._permissions(guild_id, self.application_id) & PERMISSION_MANAGE_MESSAGES:
            raise DoubleError(403, 50013, "Missing Permissions")
        await self._remove(message)
        return web.Response(status=204)

    async def _add_reaction(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        self._react(message["id"], unquote(request.match_info["emoji_name"]), self.application_id)
        return web.Response(status=204)

    async def _remove_reaction(self, request: web.Request) -> web.Response:
        message = self._channel_message(request)
        user_id = request.match_info.get("user_id", self.application_id)
        guild_id = message.get("guild_id")
        others = user_id != self.application_id and guild_id
        if others and not self._permissions(guild_id, self.application_id) & PERMISSION_MANAGE_MESSAGES:
            raise DoubleError(403, 50013, "Missing Permissions")
        users = self.reactions.get((message["id"], unquote(request.match_info["emoji_name"])), [])
        if user_id in users:
            users.remove(user_id)
        return web.Response(status=204)

    async def _get_member(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if user_id not in self.users:
            raise DoubleError(404, 10013, "Unknown User")
        return _json(self._member(request.match_info["guild_id"], user_id))

    # -- CDN and media proxy

    async def _cdn(self, request: web.Request) -> web.Response:
        self.cdn_hits.append((request.path, dict(request.query)))
        found = self.cdn.get(request.path)
        if found is None:
            return web.Response(status=404, text="Not Found")
        return _served(*found)

    async def _media(self, request: web.Request) -> web.Response:
        """The media proxy: resizes images to fit width/height, like media.discordapp.net."""
        self.cdn_hits.append((request.path, dict(request.query)))
        found = self.cdn.get(request.path.removeprefix("/media"))
        if found is None:
            return web.Response(status=404, text="Not Found")
        width = int(request.query.get("width", "0") or 0)
        height = int(request.query.get("height", "0") or 0)
        if not width and not height:
            return _served(*found)
        resized = _resized(found[0], width, height)
        if resized is None:
            return web.Response(status=415, text="Unsupported Media Type")
        return web.Response(body=resized, content_type="image/webp")

    # -- gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = _GatewaySession(self, ws)
        self._sockets.append(session)
        try:
            await session.run()
        finally:
            self._sockets.remove(session)
            await self._notify()
        return ws

    def ready_payload(self, session_id: str, session: _GatewaySession) -> dict[str, Any]:
        return {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": gid, "unavailable": True} for gid in self.guilds if session.owns(gid)],
            "shard": list(session.shard),
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url,
            "private_channels": [],
            "relationships": [],
            "application": {"id": self.application_id, "flags": self._application_flags()},
        }

    def guild_create_payload(self, guild: Mapping[str, Any]) -> dict[str, Any]:
        channels = [c for c in self.channels.values() if c.get("guild_id") == guild["id"]]
        bot_member = self._member(guild["id"], self.application_id)
        return {
            "id": guild["id"],
            "name": guild["name"],
            "icon": None,
            "owner_id": guild["owner_id"],
            "roles": guild["roles"],
            "emojis": [],
            "stickers": [],
            "features": [],
            "premium_tier": guild["premium_tier"],
            "premium_subscription_count": 0,
            "member_count": 2,
            "members": [bot_member],
            "channels": [c for c in channels if c["type"] != 11],
            "threads": [c for c in channels if c["type"] == 11],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "unavailable": False,
            "large": False,
            "joined_at": _timestamp(),
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "preferred_locale": "en-US",
            "max_members": 500000,
            "application_id": None,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
        }

    @property
    def connected(self) -> bool:
        return any(session.ready for session in self._sockets)

    @property
    def ready_shards(self) -> list[tuple[int, int]]:
        """``(shard id, shard count)`` of every identified gateway session."""
        return sorted(session.shard for session in self._sockets if session.ready)


class _GatewaySession:
    """One gateway connection: HELLO, IDENTIFY -> READY + GUILD_CREATE, heartbeats."""

    HEARTBEAT_INTERVAL_MS = 41250

    def __init__(self, double: DiscordDouble, ws: web.WebSocketResponse) -> None:
        self.double = double
        self.ws = ws
        self.sequence = 0
        self.ready = False
        self.shard = (0, 1)
        self.session_id = f"session-{double.snowflake()}"
        self._send_lock = asyncio.Lock()

    async def send(self, payload: dict[str, Any]) -> None:
        async with self._send_lock:
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(payload))

    async def send_dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.send({"op": 0, "t": event, "s": self.sequence, "d": data})

    def owns(self, guild_id: str | None) -> bool:
        """Whether this session's shard receives events of ``guild_id`` (direct messages: shard 0)."""
        shard_id, shard_count = self.shard
        if guild_id is None:
            return shard_id == 0
        return shard_of(int(guild_id), shard_count) == shard_id

    async def run(self) -> None:
        await self.send({"op": 10, "d": {"heartbeat_interval": self.HEARTBEAT_INTERVAL_MS}, "s": None, "t": None})
        async for frame in self.ws:
            if frame.type != WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            op = payload.get("op")
            if op == 1:
                await self.send({"op": 11, "d": None, "s": None, "t": None})
            elif op == 2:
                await self._identify(payload["d"])
            elif op == 6:
                await self.send({"op": 9, "d": False, "s": None, "t": None})

    async def _identify(self, data: dict[str, Any]) -> None:
        self.double.identifies.append({k: v for k, v in data.items() if k != "token"})
        if data.get("token") != self.double.token:
            await self.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = int(data.get("intents", 0))
        if intents & INTENT_MESSAGE_CONTENT and not self.double.message_content_intent:
            await self.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = data.get("shard") or [0, 1]
        if len(shard) != 2 or not 0 <= int(shard[0]) < int(shard[1]):
            await self.ws.close(code=4010, message=b"Invalid shard.")
            return
        self.shard = (int(shard[0]), int(shard[1]))
        self.ready = True
        await self.send_dispatch("READY", self.double.ready_payload(self.session_id, self))
        for guild in self.double.guilds.values():
            if self.owns(guild["id"]):
                await self.send_dispatch("GUILD_CREATE", self.double.guild_create_payload(guild))
        await self.double._notify()


# ---------------------------------------------------------------- helpers


def shard_of(guild_id: int, shard_count: int) -> int:
    """Which shard receives a guild's events: ``(guild_id >> 22) % shard_count``."""
    return (guild_id >> 22) % shard_count


def _role(role_id: str, name: str, permissions: int, position: int) -> dict[str, Any]:
    return {
        "id": role_id,
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def _json(payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    """A JSON response with Discord's exact content type (discord.py compares it verbatim)."""
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


def _served(data: bytes, content_type: str) -> web.Response:
    """A CDN file with its full Content-Type header (aiohttp's ``content_type=`` refuses a charset)."""
    return web.Response(body=data, headers={"Content-Type": content_type})


def _error(status: int, code: int, message: str, errors: Any = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        body["errors"] = errors
    return _json(body, status=status)


async def _read_body(request: web.Request) -> tuple[Any, dict[str, tuple[str, bytes]]]:
    """The JSON body (or multipart ``payload_json``) and uploaded files."""
    files: dict[str, tuple[str, bytes]] = {}
    if not request.can_read_body:
        return None, files
    if request.content_type.startswith("multipart/"):
        body: Any = None
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.name:
                files[part.name] = (part.filename or part.name, bytes(await part.read()))
        return body, files
    raw = await request.read()
    return (json.loads(raw) if raw else None), files


def _option_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    return 3


def _custom_ids(components: Iterable[Mapping[str, Any]], *, component_type: int) -> list[str]:
    found: list[str] = []
    for component in components:
        if component.get("type") == component_type and "custom_id" in component:
            found.append(component["custom_id"])
        found.extend(_custom_ids(component.get("components", []), component_type=component_type))
        if "component" in component:
            found.extend(_custom_ids([component["component"]], component_type=component_type))
    return found


def all_custom_ids(message: Mapping[str, Any]) -> list[str]:
    """Custom ids of every button and select on a message, in order."""
    return _custom_ids(message.get("components", []), component_type=2) + _custom_ids(
        message.get("components", []), component_type=3
    )


def button_labels(message: Mapping[str, Any]) -> dict[str, str]:
    """Button label -> custom id on a message."""
    labels: dict[str, str] = {}

    def walk(components: Iterable[Mapping[str, Any]]) -> None:
        for component in components:
            if component.get("type") == 2 and "custom_id" in component:
                labels[str(component.get("label"))] = component["custom_id"]
            walk(component.get("components", []))

    walk(message.get("components", []))
    return labels


def _modal_answer(
    component: Mapping[str, Any], values: Mapping[str, str], uploads: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, Any]:
    uploads = uploads or {}
    if component.get("type") == 4:
        custom_id = component["custom_id"]
        return {"type": 4, "custom_id": custom_id, "value": values.get(custom_id, component.get("value", ""))}
    if component.get("type") == 19:  # a file upload: the ids of the attachments uploaded into it
        custom_id = component["custom_id"]
        chosen = [uploads[custom_id]["id"]] if custom_id in uploads else []
        if component.get("required", True) and not chosen:
            raise AssertionError(f"the file upload {custom_id!r} is required")
        return {"type": 19, "custom_id": custom_id, "values": chosen}
    if "component" in component:
        return {"type": component["type"], "component": _modal_answer(component["component"], values, uploads)}
    return {
        "type": component["type"],
        "components": [_modal_answer(child, values, uploads) for child in component.get("components", [])],
    }


def _file_upload_ids(components: list[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for component in components:
        if component.get("type") == 19:
            found.add(str(component["custom_id"]))
        found |= _file_upload_ids([*component.get("components", []), *filter(None, [component.get("component")])])
    return found


def _content_type(filename: str, data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    lowered = filename.lower()
    suffixes = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}
    for suffix, kind in suffixes.items():
        if lowered.endswith(suffix):
            return kind
    if lowered.endswith(".txt"):
        return "text/plain; charset=utf-8"
    return "application/octet-stream"


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        return None


def _resized(data: bytes, width: int, height: int) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            box = (width or image.width, height or image.height)
            image.thumbnail(box)
            out = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, "WEBP", quality=90)
            return out.getvalue()
    except Exception:
        return None
