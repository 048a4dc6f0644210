"""A local Slack: Web API, Socket Mode websocket, file hosting and upload URLs on 127.0.0.1.

slack_bolt and slack_sdk talk to it unmodified: point ``AsyncWebClient(base_url=...)`` at
``SlackDouble.api_url``. It keeps a small workspace (users, channels, messages, files) and
checks what the bot sends the way Slack does:

- every Web API call needs the bot token (``apps.connections.open`` the app token);
- every ``blocks`` payload and every modal is parsed by ``slack_sdk.models`` (parse, then
  ``to_dict``) and held to Block Kit's limits; a bad one answers ``invalid_blocks`` and is
  kept in ``problems`` so a test fails on it;
- ``url_private`` and thumbnails need ``Authorization: Bearer <bot token>``; without it the
  answer is Slack's HTML login page with status 200, as the real file host does; an external
  file (``add_file(external_url=...)``) is listed with its provider's link instead;
- Socket Mode envelopes must be acknowledged within Slack's 3 s window; a trigger id opens
  one modal, within 3 s;
- channels in ``outside`` are ones the bot was not invited to: reading or posting there
  answers ``not_in_channel``; ``response_url`` replies (kept in ``responses``) still work.

``deliveries`` keeps every envelope sent, so a test can replay one as an attacker would.

Tests drive it like people would: ``post``/``upload`` messages, ``mention`` the bot,
``press`` a button, ``react``, ``submit`` a modal, then ``wait_for`` what the bot did.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import hmac
import io
import itertools
import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from PIL import Image
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.doubles.server import serve_locally

TEAM_ID = "T0MERGE"
APP_ID = "A0MERGE"
BOT_USER_ID = "U0MERGEBOT"
BOT_ID = "B0MERGEBOT"
BOT_TOKEN = "xoxb-not-real"
APP_TOKEN = "xapp-not-real"
SIGNING_SECRET = "test-double-signing-secret"

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
MAX_ACTIONS_ELEMENTS = 25
MAX_SECTION_TEXT = 3000
MAX_MESSAGE_TEXT = 40000
MAX_BUTTON_TEXT = 75
MAX_OPTIONS = 100
ACK_WINDOW_S = 3.0
TRIGGER_LIFETIME_S = 3.0
THUMB_SIZES = (64, 80, 360, 480, 720, 800, 960, 1024)

LOGIN_PAGE = (
    '<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>Slack</title></head>'
    '<body><div id="page"><h1>Sign in to Slack</h1><form action="/signin" method="post">'
    '<input type="email" name="email"><button type="submit">Sign in</button></form></div></body></html>'
)

# Methods the double answers; anything else is "unknown_method", as on Slack.
_METHODS = (
    "auth.test",
    "apps.connections.open",
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "chat.postEphemeral",
    "conversations.history",
    "conversations.replies",
    "files.completeUploadExternal",
    "files.delete",
    "files.getUploadURLExternal",
    "files.info",
    "users.info",
    "views.open",
)


# Slack's per-method rate limits (https://docs.slack.dev/apis/web-api/rate-limits), applied per
# workspace when ``SlackDouble(rate_limits=True)``: calls per minute in a sliding 60 s window (the
# tiers' documented floors: Tier 1 "1+", Tier 2 "20+", Tier 3 "50+", Tier 4 "100+"; Tier 1 gets a
# small burst, as Slack tolerates). chat.postMessage is special: about one message per second per
# channel, short bursts allowed (here: 5 in any 5 s per channel). Past a limit the answer is HTTP 429
# with ``Retry-After`` (whole seconds) and ``{"ok": false, "error": "ratelimited"}``.
TIER_PER_MINUTE = {1: 5, 2: 20, 3: 50, 4: 100}
METHOD_TIERS = {
    "apps.connections.open": 1,
    "auth.test": 4,  # special; generous
    "chat.update": 3,
    "chat.delete": 3,
    "chat.postEphemeral": 4,
    "conversations.history": 3,
    "conversations.replies": 3,
    "files.completeUploadExternal": 4,
    "files.delete": 3,
    "files.getUploadURLExternal": 4,
    "files.info": 4,
    "users.info": 4,
    "views.open": 4,
}
POST_PER_CHANNEL = (5, 5.0)  # chat.postMessage: messages per window (s), per channel


class RateLimits:
    """Sliding-window counters per method (per channel for chat.postMessage)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self.limited = 0

    def retry_after(self, method: str, channel: str) -> int | None:
        """None when the call may go (and it is counted); else the seconds to wait."""
        if method == "chat.postMessage":
            key, (limit, window) = (method, channel), POST_PER_CHANNEL
        elif method in METHOD_TIERS:
            key, limit, window = (method, ""), TIER_PER_MINUTE[METHOD_TIERS[method]], 60.0
        else:
            return None
        now = self._clock()
        calls = self._calls.setdefault(key, deque())
        while calls and calls[0] <= now - window:
            calls.popleft()
        if len(calls) >= limit:
            self.limited += 1
            return max(1, math.ceil(calls[0] + window - now))
        calls.append(now)
        return None


class BlockKitViolation(Exception):
    """A payload the real Slack would refuse."""


@dataclass
class ApiCall:
    """One Web API request the bot made."""

    method: str
    args: dict[str, Any]
    ok: bool
    error: str | None = None


@dataclass
class StoredFile:
    """A file in the workspace, with its bytes."""

    id: str
    name: str
    title: str
    mimetype: str
    data: bytes
    user: str
    check_file_info: bool = False
    hidden: bool = False  # the bot cannot see it (no files:read, not in the channel): hosting sends a login page
    complete: bool = True
    # An external file (Slack's "mode": "external", e.g. a linked Google Drive file): Slack lists
    # it, but its url_private is on the provider's host, not Slack's, and it has no thumbnails.
    external_url: str | None = None
    shares: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def filetype(self) -> str:
        return self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary"


@dataclass
class Ack:
    """What the bot answered to a Socket Mode envelope."""

    envelope_id: str
    payload: dict[str, Any] | None


class SlackDouble:
    """The local Slack. Use ``async with SlackDouble() as slack:``."""

    def __init__(
        self, *, thread_page_size: int = 0, ack_window_s: float = ACK_WINDOW_S, rate_limits: bool = False
    ) -> None:
        self.rate_limits = RateLimits() if rate_limits else None
        self.deliveries: list[tuple[str, dict[str, Any]]] = []  # every Socket Mode envelope sent: (type, payload)
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self.files: dict[str, StoredFile] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.calls: list[ApiCall] = []
        self.acks: list[Ack] = []
        self.problems: list[str] = []
        self.file_requests: list[tuple[str, bool]] = []  # (path, authorised)
        self.ephemeral: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []  # messages sent to a response_url
        self.outside: set[str] = set()  # channels the bot is not a member of
        self.thread_page_size = thread_page_size  # 0: Slack's default page size
        self.ack_window_s = ack_window_s
        self._failures: dict[str, list[tuple[int, str, int | None]]] = {}
        self._ticks = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future[Ack]] = {}
        self._uploads: dict[str, str] = {}  # upload ticket -> file id
        self._triggers: dict[str, float] = {}  # unused trigger id -> when it was issued
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.connections = 0
        self.add_user(BOT_USER_ID, "mergebot", is_bot=True)

    # ----------------------------------------------------------------- lifecycle
    async def __aenter__(self) -> SlackDouble:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_get("/link/", self._socket)
        app.router.add_get("/files-pri/{key}/{name}", self._file)
        app.router.add_get("/files-tmb/{key}/{name}", self._thumb)
        app.router.add_post("/upload/v1/{ticket}", self._upload)
        app.router.add_post("/respond/{ticket}", self._respond)
        self._runner, self.port = await serve_locally(app)
        return self

    async def __aexit__(self, *_: object) -> None:
        for future in self._pending_acks.values():
            future.cancel()
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The value for ``SLACK_API_URL`` (slack_sdk's ``base_url``)."""
        return f"{self.base_url}/api/"

    # ----------------------------------------------------------------- workspace set-up
    def add_user(
        self, user_id: str, name: str, *, is_admin: bool = False, is_owner: bool = False, is_bot: bool = False
    ) -> str:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name.title(),
            "profile": {"display_name": name, "real_name": name.title()},
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": is_bot,
            "deleted": False,
        }
        return user_id

    def _ts(self) -> str:
        tick = next(self._ticks)
        return f"{1_700_000_000 + tick}.{tick:06d}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08d}"

    def add_file(
        self,
        name: str,
        data: bytes,
        *,
        user: str,
        mimetype: str = "image/png",
        check_file_info: bool = False,
        external_url: str | None = None,
    ) -> StoredFile:
        """A file in the workspace that is not shared anywhere yet (``external_url``: hosted elsewhere)."""
        stored = StoredFile(
            self._new_id("F"), name, name, mimetype, data, user, check_file_info, external_url=external_url
        )
        self.files[stored.id] = stored
        return stored

    def post(
        self,
        channel: str,
        user: str,
        text: str = "",
        *,
        thread_ts: str | None = None,
        files: tuple[StoredFile, ...] = (),
    ) -> dict[str, Any]:
        """A person's message (optionally with files) appears in a channel or thread."""
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": self._ts(), "team": TEAM_ID}
        if files:
            message["files"] = [f.id for f in files]
            message["upload"] = True
        return self._store(channel, message, thread_ts)

    def upload(
        self,
        channel: str,
        user: str,
        *images: tuple[str, bytes] | tuple[str, bytes, str],
        text: str = "",
        thread_ts: str | None = None,
        check_file_info: bool = False,
    ) -> dict[str, Any]:
        """A person uploads files (name, bytes[, mimetype]) with a message."""
        stored = tuple(
            self.add_file(
                item[0],
                item[1],
                user=user,
                mimetype=item[2] if len(item) > 2 else _guess_mime(item[0]),
                check_file_info=check_file_info,
            )
            for item in images
        )
        return self.post(channel, user, text, thread_ts=thread_ts, files=stored)

    def _store(self, channel: str, message: dict[str, Any], thread_ts: str | None) -> dict[str, Any]:
        message["channel"] = channel
        if thread_ts is not None:
            root = self.message(channel, thread_ts)
            if root is None:
                raise AssertionError(f"no thread root {thread_ts} in {channel}")
            root["thread_ts"] = thread_ts
            root["reply_count"] = root.get("reply_count", 0) + 1
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = root.get("user")
        for file_id in message.get("files", []):
            shares = self.files[file_id].shares.setdefault("public", {})
            shares.setdefault(channel, []).append({"ts": message["ts"], "thread_ts": thread_ts or ""})
        self.messages.setdefault(channel, []).append(message)
        self._notify()
        return message

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The thread's messages, root first, oldest first."""
        return [m for m in self.messages.get(channel, []) if m["ts"] == thread_ts or m.get("thread_ts") == thread_ts]

    def bot_messages(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        source = self.thread(channel, thread_ts) if thread_ts else self.messages.get(channel, [])
        return [m for m in source if m.get("user") == BOT_USER_ID]

    def files_in(self, channel: str, thread_ts: str | None = None) -> list[StoredFile]:
        """Files the bot shared into a channel or thread, oldest first."""
        return [self.files[f] for m in self.bot_messages(channel, thread_ts) for f in m.get("files", [])]

    def visible_to_members(self, channel: str, file_id: str) -> bool:
        """Whether people in ``channel`` can see a file: Slack lets only the uploader see a
        file that was never shared, so a ``slack_file`` block of it shows nothing to them."""
        return any(file_id in m.get("files", []) for m in self.messages.get(channel, []))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def fail_next(
        self,
        method: str,
        *,
        error: str = "ratelimited",
        status: int = 200,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls of ``method`` fail with ``error`` (HTTP ``status``)."""
        self._failures.setdefault(method, []).extend([(status, error, retry_after)] * times)

    def clear_failures(self) -> None:
        """Forget failures set with ``fail_next`` that were not used up."""
        self._failures.clear()

    # ----------------------------------------------------------------- waiting
    def _notify(self) -> None:
        async def wake() -> None:
            async with self._changed:
                self._changed.notify_all()

        try:
            asyncio.get_running_loop().create_task(wake())
        except RuntimeError:
            return

    async def wait_for(self, predicate: Callable[[], Any], *, limit_s: float = 30.0, what: str = "") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every change) and return its value."""

        async def check() -> Any:
            async with self._changed:
                while True:
                    value = predicate()
                    if value:
                        return value
                    await self._changed.wait()

        try:
            return await asyncio.wait_for(check(), limit_s)
        except TimeoutError:
            raise AssertionError(
                f"Slack double: gave up waiting for {what or predicate}; problems={self.problems}"
            ) from None

    # ----------------------------------------------------------------- Socket Mode
    async def connected(self) -> None:
        await self.wait_for(lambda: self._sockets, what="a Socket Mode connection")

    async def deliver(
        self,
        envelope_type: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        accepts_response_payload: bool = False,
    ) -> Ack:
        """Send one envelope over Socket Mode and wait for its acknowledgement."""
        await self.connected()
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": payload,
            "type": envelope_type,
            "accepts_response_payload": accepts_response_payload,
        }
        if envelope_type == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        self.deliveries.append((envelope_type, copy.deepcopy(payload)))
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = future
        await self._sockets[-1].send_str(json.dumps(envelope))
        try:
            return await asyncio.wait_for(future, self.ack_window_s)
        except TimeoutError:
            self.problems.append(f"{envelope_type} envelope not acknowledged within {self.ack_window_s} s")
            raise AssertionError(f"the bot did not acknowledge a {envelope_type} envelope in time") from None
        finally:
            self._pending_acks.pop(envelope_id, None)

    def event_callback(self, event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """An Events API body around ``event``."""
        return {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "context_team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(self._ids):010d}",
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": False,
                    "enterprise_id": None,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def mention_event(
        self,
        channel: str,
        user: str,
        prompt: str,
        *,
        thread_ts: str | None = None,
        images: tuple[tuple[str, bytes], ...] = (),
    ) -> dict[str, Any]:
        """A person writes ``@mergebot <prompt>`` (stored, with ``images`` uploaded on it) and the
        app_mention event for it (which, like Slack's, lists the message's files)."""
        stored = tuple(self.add_file(name, data, user=user, mimetype=_guess_mime(name)) for name, data in images)
        message = self.post(channel, user, f"<@{BOT_USER_ID}> {prompt}", thread_ts=thread_ts, files=stored)
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user,
            "text": message["text"],
            "ts": message["ts"],
            "channel": channel,
            "event_ts": message["ts"],
            "team": TEAM_ID,
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if stored:
            event["files"] = [self._file_object(f, listing=True) for f in stored]
            event["upload"] = True
        return self.event_callback(event)

    async def mention(
        self,
        channel: str,
        user: str,
        prompt: str,
        *,
        thread_ts: str | None = None,
        images: tuple[tuple[str, bytes], ...] = (),
    ) -> Ack:
        event = self.mention_event(channel, user, prompt, thread_ts=thread_ts, images=images)
        return await self.deliver("events_api", event)

    def reaction_event(self, channel: str, ts: str, user: str, reaction: str) -> dict[str, Any]:
        message = self.message(channel, ts)
        assert message is not None, f"no message {ts} in {channel}"
        message.setdefault("reactions", []).append({"name": reaction, "users": [user], "count": 1})
        return self.event_callback(
            {
                "type": "reaction_added",
                "user": user,
                "reaction": reaction,
                "item_user": message.get("user"),
                "item": {"type": "message", "channel": channel, "ts": ts},
                "event_ts": self._ts(),
            }
        )

    async def react(self, channel: str, ts: str, user: str, reaction: str) -> Ack:
        return await self.deliver("events_api", self.reaction_event(channel, ts, user, reaction))

    async def slash_command(self, channel: str, user: str, command: str, text: str) -> Ack:
        payload = {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "team_domain": "merge",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": self.users[user]["name"],
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self._response_url(),
            "trigger_id": self.trigger_id(),
        }
        return await self.deliver("slash_commands", payload, accepts_response_payload=True)

    def trigger_id(self) -> str:
        """A trigger id for one interaction: good for one ``views.open`` within ``TRIGGER_LIFETIME_S``."""
        trigger = f"{next(self._ids)}.{TEAM_ID}.trigger"
        self._triggers[trigger] = time.monotonic()
        return trigger

    def _response_url(self) -> str:
        return f"{self.base_url}/respond/{next(self._ids)}"

    def _interaction_base(self, user: str) -> dict[str, Any]:
        return {
            "user": {
                "id": user,
                "username": self.users[user]["name"],
                "name": self.users[user]["name"],
                "team_id": TEAM_ID,
            },
            "api_app_id": APP_ID,
            "token": "verification-token",
            "trigger_id": self.trigger_id(),
            "team": {"id": TEAM_ID, "domain": "merge"},
            "is_enterprise_install": False,
            "enterprise": None,
        }

    async def press(self, channel: str, ts: str, user: str, action_id: str, *, option: str | None = None) -> Ack:
        """A person presses the button ``action_id`` (or picks ``option`` in that select) on a message."""
        message = self.message(channel, ts)
        assert message is not None, f"no message {ts} in {channel}"
        block, element = _find_element(message.get("blocks", []), action_id)
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block.get("block_id", ""),
            "type": element["type"],
            "action_ts": self._ts(),
        }
        if element["type"] == "button":
            action["text"] = element["text"]
            action["value"] = element.get("value", "")
        else:
            chosen = next((o for o in element.get("options", []) if o["value"] == option), None)
            assert chosen is not None, f"{option!r} is not an option of {action_id}"
            action["selected_option"] = chosen
        container = {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False}
        if "thread_ts" in message:
            container["thread_ts"] = message["thread_ts"]
        payload = self._interaction_base(user) | {
            "type": "block_actions",
            "container": container,
            "channel": {"id": channel, "name": "general"},
            "message": message,
            "state": {"values": {}},
            "response_url": self._response_url(),
            "actions": [action],
        }
        return await self.deliver("interactive", payload)

    async def shortcut(self, channel: str, ts: str, user: str, callback_id: str) -> Ack:
        """A person runs a message shortcut on a message."""
        message = self.message(channel, ts)
        assert message is not None, f"no message {ts} in {channel}"
        payload = self._interaction_base(user) | {
            "type": "message_action",
            "callback_id": callback_id,
            "action_ts": self._ts(),
            "message_ts": ts,
            "message": message,
            "channel": {"id": channel, "name": "general"},
            "response_url": self._response_url(),
        }
        return await self.deliver("interactive", payload)

    async def submit(self, view_id: str, user: str, values: Mapping[str, str]) -> Ack:
        """A person fills a modal (action_id -> value; selects take the option value) and submits it."""
        view = self.views[view_id]
        state: dict[str, dict[str, Any]] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            element = block["element"]
            action_id = element["action_id"]
            if element["type"] == "plain_text_input":
                value: Any = {"type": "plain_text_input", "value": values.get(action_id, element.get("initial_value"))}
            else:
                picked = values.get(action_id)
                option = next(
                    (o for o in element.get("options", []) if o["value"] == picked), element.get("initial_option")
                )
                value = {"type": element["type"], "selected_option": option}
            state.setdefault(block["block_id"], {})[action_id] = value
        payload = self._interaction_base(user) | {
            "type": "view_submission",
            "view": view
            | {
                "state": {"values": state},
                "id": view_id,
                "team_id": TEAM_ID,
                "app_id": APP_ID,
                "bot_id": BOT_ID,
                "hash": f"{next(self._ids)}.hash",
            },
            "response_urls": [],
        }
        return await self.deliver("interactive", payload, accepts_response_payload=True)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections += 1
        await socket.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "debug_info": {"host": "applink-double", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        self._notify()
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                self._receive_ack(frame.data)
        finally:
            self._sockets.remove(socket)
            self._notify()
        return socket

    def _receive_ack(self, raw: str) -> None:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self.problems.append(f"Socket Mode: the bot sent non-JSON text {raw[:80]!r}")
            return
        envelope_id = body.get("envelope_id")
        future = self._pending_acks.get(envelope_id or "")
        if future is None:
            self.problems.append(f"Socket Mode: acknowledgement for an unknown envelope {envelope_id!r}")
            return
        payload = body.get("payload")
        if payload is not None:
            self._check_ack_payload(payload)
        ack = Ack(envelope_id, payload)
        self.acks.append(ack)
        if not future.done():
            future.set_result(ack)

    def _check_ack_payload(self, payload: dict[str, Any]) -> None:
        try:
            if "blocks" in payload:
                _check_message_blocks(payload["blocks"])
            if payload.get("response_action") in ("update", "push"):
                _check_view(payload["view"])
        except BlockKitViolation as exc:
            self.problems.append(f"ack payload: {exc}")

    # ----------------------------------------------------------------- Web API
    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _request_args(request)
        token = _bearer(request) or str(args.pop("token", ""))
        args.pop("token", None)
        failures = self._failures.get(method)
        if failures:
            status, error, retry_after = failures.pop(0)
            self.calls.append(ApiCall(method, args, False, error))
            self._notify()
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        if method not in _METHODS:
            return self._answer(method, args, {"ok": False, "error": "unknown_method"})
        if self.rate_limits is not None:
            wait = self.rate_limits.retry_after(method, str(args.get("channel") or ""))
            if wait is not None:
                self.calls.append(ApiCall(method, args, False, "ratelimited"))
                self._notify()
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(wait)}
                )
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != wanted:
            error = "not_allowed_token_type" if token in (APP_TOKEN, BOT_TOKEN) else "invalid_auth"
            return self._answer(method, args, {"ok": False, "error": error})
        handler = getattr(self, "_m_" + method.replace(".", "_"))
        try:
            body = handler(args)
        except BlockKitViolation as exc:
            self.problems.append(f"{method}: {exc}")
            body = {"ok": False, "error": "invalid_blocks", "errors": [str(exc)]}
        except _ApiError as exc:
            body = {"ok": False, "error": exc.code}
        return self._answer(method, args, body)

    def _answer(self, method: str, args: dict[str, Any], body: dict[str, Any]) -> web.Response:
        self.calls.append(ApiCall(method, args, bool(body.get("ok")), body.get("error")))
        self._notify()
        return web.json_response(body)

    def _m_auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://merge.slack.com/",
            "team": "Merge",
            "user": "mergebot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"}

    def _channel(self, args: dict[str, Any], key: str = "channel") -> str:
        channel = str(args.get(key) or "")
        if not channel:
            raise _ApiError("channel_not_found")
        if channel in self.outside:
            raise _ApiError("not_in_channel")
        return channel

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        content = _message_content(args)
        self._check_slack_files(content.get("blocks", []))
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None and self.message(channel, thread_ts) is None:
            raise _ApiError("thread_not_found")
        message = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "ts": self._ts(),
            "team": TEAM_ID,
            **content,
        }
        self._store(channel, message, thread_ts)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self.message(channel, str(args.get("ts")))
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != BOT_USER_ID:
            raise _ApiError("cant_update_message")
        content = _message_content(args)
        self._check_slack_files(content.get("blocks", []))
        message.update(content)
        message["edited"] = {"user": BOT_USER_ID, "ts": self._ts()}
        self._notify()
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": message,
        }

    def _check_slack_files(self, blocks: list[dict[str, Any]]) -> None:
        """Image blocks that show a Slack file must name a finished upload of an image."""
        for block in blocks:
            file_id = block.get("slack_file", {}).get("id") if block.get("type") == "image" else None
            if file_id is None:
                continue
            stored = self.files.get(file_id)
            if stored is None or not stored.complete or _image_size(stored.data) is None:
                raise BlockKitViolation(f"image block names {file_id}, which is not an uploaded image")

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        message = self.message(channel, str(args.get("ts")))
        if message is None:
            raise _ApiError("message_not_found")
        if message.get("user") != BOT_USER_ID:
            raise _ApiError("cant_delete_message")
        self.messages[channel].remove(message)
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user = str(args.get("user") or "")
        if user not in self.users:
            raise _ApiError("user_not_in_channel")
        content = _message_content(args)
        self.ephemeral.append({"channel": channel, "user": user, "thread_ts": args.get("thread_ts"), **content})
        return {"ok": True, "message_ts": self._ts()}

    def _page(self, items: list[dict[str, Any]], args: dict[str, Any], default_limit: int) -> dict[str, Any]:
        limit = int(args.get("limit") or default_limit)
        if self.thread_page_size:
            limit = min(limit, self.thread_page_size)
        start = int(args.get("cursor") or 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "ok": True,
            "messages": [self._render_message(m) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = str(args.get("ts") or "")
        message = self.message(channel, ts)
        if message is None:
            raise _ApiError("thread_not_found")
        root_ts = message.get("thread_ts", ts)
        return self._page(self.thread(channel, root_ts), args, 1000)

    def _m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages newest first, between ``oldest`` and ``latest`` (exclusive unless
        ``inclusive``), as Slack documents."""
        channel = self._channel(args)
        top = [m for m in self.messages.get(channel, []) if m.get("thread_ts", m["ts"]) == m["ts"]]
        inclusive = str(args.get("inclusive") or "").lower() in ("1", "true")
        oldest, latest = args.get("oldest"), args.get("latest")
        if oldest:
            top = [m for m in top if float(m["ts"]) > float(oldest) or (inclusive and m["ts"] == str(oldest))]
        if latest:
            top = [m for m in top if float(m["ts"]) < float(latest) or (inclusive and m["ts"] == str(latest))]
        return self._page(list(reversed(top)), args, 100)

    def _render_message(self, message: dict[str, Any]) -> dict[str, Any]:
        shown = dict(message)
        if "files" in message:
            shown["files"] = [self._file_object(self.files[f], listing=True) for f in message["files"]]
        return shown

    def _file_object(self, stored: StoredFile, *, listing: bool = False) -> dict[str, Any]:
        if listing and stored.check_file_info:
            return {
                "id": stored.id,
                "mode": "file_access",
                "file_access": "check_file_info",
                "created": 1_700_000_000,
                "timestamp": 1_700_000_000,
                "user": stored.user,
            }
        key = f"{TEAM_ID}-{stored.id}"
        base: dict[str, Any] = {
            "id": stored.id,
            "created": 1_700_000_000,
            "timestamp": 1_700_000_000,
            "name": stored.name,
            "title": stored.title,
            "mimetype": stored.mimetype,
            "filetype": stored.filetype,
            "pretty_type": stored.filetype.upper(),
            "user": stored.user,
            "user_team": TEAM_ID,
            "mode": "hosted",
            "editable": False,
            "is_external": False,
            "external_type": "",
            "is_public": bool(stored.shares),
            "size": len(stored.data),
            "url_private": f"{self.base_url}/files-pri/{key}/{stored.name}",
            "url_private_download": f"{self.base_url}/files-pri/{key}/download/{stored.name}",
            "permalink": f"https://merge.slack.com/files/{stored.user}/{stored.id}/{stored.name}",
            "shares": stored.shares,
        }
        if stored.external_url is not None:
            base.update(mode="external", is_external=True, external_type="gdrive", url_private=stored.external_url)
            base["url_private_download"] = stored.external_url
            return base
        dims = _image_size(stored.data) if stored.mimetype.startswith("image/") else None
        if dims is not None:
            width, height = dims
            base["original_w"], base["original_h"] = width, height
            stem = stored.name.rsplit(".", 1)[0]
            for size in THUMB_SIZES:
                if size <= 360 or max(width, height) > size:
                    base[f"thumb_{size}"] = f"{self.base_url}/files-tmb/{key}-{size}/{stem}_{size}.png"
        return base

    def _m_files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(args.get("file") or ""))
        if stored is None or not stored.complete:
            raise _ApiError("file_not_found")
        return {"ok": True, "file": self._file_object(stored), "comments": [], "response_metadata": {"next_cursor": ""}}

    def _m_files_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(args.get("file") or ""))
        if stored is None:
            raise _ApiError("file_not_found")
        if stored.user != BOT_USER_ID:
            raise _ApiError("cant_delete_file")
        del self.files[stored.id]
        for channel, messages in self.messages.items():
            for message in list(messages):
                if stored.id in message.get("files", []):
                    message["files"].remove(stored.id)
                    if not message["files"] and not message.get("text"):
                        self.messages[channel].remove(message)
        self._notify()
        return {"ok": True}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        length = int(args.get("length") or 0)
        if not filename or length <= 0:
            raise _ApiError("invalid_arguments")
        stored = self.add_file(filename, b"", user=BOT_USER_ID, mimetype=_guess_mime(filename))
        stored.complete = False
        ticket = uuid.uuid4().hex
        self._uploads[ticket] = stored.id
        stored.title = str(length)  # the announced length, checked when the upload arrives
        return {"ok": True, "upload_url": f"{self.base_url}/upload/v1/{ticket}", "file_id": stored.id}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = self._uploads.pop(request.match_info["ticket"], None)
        if file_id is None:
            return web.Response(status=404, text="unknown upload")
        stored = self.files[file_id]
        data = await request.read()
        if len(data) != int(stored.title):
            self.problems.append(f"upload of {stored.name}: {len(data)} bytes, announced {stored.title}")
            return web.Response(status=400, text="length mismatch")
        stored.data = data
        stored.title = stored.name
        return web.Response(status=200, text=f"OK - {len(data)}")

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        entries = args.get("files")
        items = json.loads(entries) if isinstance(entries, str) else entries
        if not isinstance(items, list) or not items:
            raise _ApiError("invalid_arguments")
        channel = self._channel(args, "channel_id") if args.get("channel_id") else None
        thread_ts = args.get("thread_ts") or None
        done: list[StoredFile] = []
        for item in items:
            stored = self.files.get(item.get("id", ""))
            if stored is None or stored.complete or not stored.data:
                raise _ApiError("file_not_found")
            stored.complete = True
            stored.title = item.get("title") or stored.name
            done.append(stored)
        if channel is not None:
            message: dict[str, Any] = {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": self._ts(),
                "team": TEAM_ID,
                "text": str(args.get("initial_comment") or ""),
                "files": [f.id for f in done],
                "upload": True,
            }
            self._store(channel, message, thread_ts)
        return {"ok": True, "files": [self._file_object(f) for f in done]}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user") or ""))
        if user is None:
            raise _ApiError("user_not_found")
        return {"ok": True, "user": user}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        issued = self._triggers.pop(str(args.get("trigger_id") or ""), None)
        if issued is None:
            raise _ApiError("invalid_trigger_id")
        if time.monotonic() - issued > TRIGGER_LIFETIME_S:
            raise _ApiError("expired_trigger_id")
        view = _parse_json_arg(args.get("view"))
        _check_view(view)
        view_id = self._new_id("V")
        self.views[view_id] = view
        self._notify()
        return {"ok": True, "view": view | {"id": view_id}}

    # ----------------------------------------------------------------- response_url
    async def _respond(self, request: web.Request) -> web.Response:
        """A reply through an interaction's ``response_url`` (works where the bot is not a member)."""
        body = await request.json()
        try:
            if not body.get("text") and not body.get("blocks"):
                raise BlockKitViolation("a response needs text or blocks")
            if "blocks" in body:
                _check_message_blocks(body["blocks"])
        except BlockKitViolation as exc:
            self.problems.append(f"response_url: {exc}")
            return web.Response(status=400, text="invalid_blocks")
        self.responses.append({"url": str(request.url), **body})
        self._notify()
        return web.Response(text="ok")

    # ----------------------------------------------------------------- file hosting
    async def _file(self, request: web.Request) -> web.StreamResponse:
        stored = self._hosted(request)
        if stored is None:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        return web.Response(body=stored.data, content_type=stored.mimetype)

    async def _thumb(self, request: web.Request) -> web.StreamResponse:
        stored = self._hosted(request)
        if stored is None:
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        size = int(request.match_info["key"].rsplit("-", 1)[1])
        # Off the double's event loop, as a real file host serves many requests at once.
        return web.Response(body=await asyncio.to_thread(_thumbnail, stored.data, size), content_type="image/png")

    def _hosted(self, request: web.Request) -> StoredFile | None:
        """The file a hosting URL names when the request carries the bot token, else None."""
        authorised = _bearer(request) == BOT_TOKEN
        self.file_requests.append((request.path, authorised))
        key = request.match_info["key"]
        parts = key.split("-")
        stored = self.files.get(parts[1]) if len(parts) >= 2 and parts[0] == TEAM_ID else None
        if stored is None:
            raise web.HTTPNotFound()
        return stored if authorised and not stored.hidden else None


class _ApiError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def sign(body: str, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack puts on an HTTP delivery (v0 request signature)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


def _guess_mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "webp": "image/webp",
        "txt": "text/plain",
        "pdf": "application/pdf",
    }.get(ext, "application/octet-stream")


# Slack renders a file's thumbnails and reads its size once, when it is uploaded; the double does
# each once per content (bytes cache their hash), so serving a busy thread costs what it costs Slack.
@functools.lru_cache(maxsize=256)
def _thumbnail(data: bytes, size: int) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((size, size))
        out = io.BytesIO()
        image.convert("RGB").save(out, "PNG", compress_level=1)
    return out.getvalue()


@functools.lru_cache(maxsize=1024)
def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.size
    except Exception:
        return None


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[len("Bearer ") :] if header.startswith("Bearer ") else None


async def _request_args(request: web.Request) -> dict[str, Any]:
    """Arguments from the query string, a form body or a JSON body, as slack_sdk sends them."""
    args: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        raw = await request.read()
        if request.content_type == "application/json":
            args.update(json.loads(raw or b"{}"))
        elif raw:
            args.update(dict(parse_qsl(raw.decode())))
    return args


def _parse_json_arg(value: Any) -> dict[str, Any]:
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, dict):
        raise BlockKitViolation("expected a JSON object")
    return parsed


def _message_content(args: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = {}
    text = args.get("text")
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not text and not blocks:
        raise _ApiError("no_text")
    if text is not None:
        if len(str(text)) > MAX_MESSAGE_TEXT:
            raise _ApiError("msg_too_long")
        content["text"] = str(text)
    if blocks is not None:
        _check_message_blocks(blocks)
        content["blocks"] = blocks
    return content


def _check_message_blocks(blocks: Any) -> None:
    if not isinstance(blocks, list):
        raise BlockKitViolation("blocks must be a list")
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        raise BlockKitViolation(f"{len(blocks)} blocks, a message takes at most {MAX_MESSAGE_BLOCKS}")
    _check_blocks(blocks)


def _check_view(view: dict[str, Any]) -> None:
    try:
        parsed = View(**view)
        parsed.to_dict()
    except Exception as exc:
        raise BlockKitViolation(f"modal: {exc}") from exc
    blocks = view.get("blocks", [])
    if len(blocks) > MAX_MODAL_BLOCKS:
        raise BlockKitViolation(f"{len(blocks)} blocks, a modal takes at most {MAX_MODAL_BLOCKS}")
    _check_blocks(blocks)


def _check_blocks(blocks: list[Any]) -> None:
    """Parse with slack_sdk.models, render back, and apply the limits the models do not check."""
    try:
        parsed = Block.parse_all(blocks)
    except Exception as exc:
        raise BlockKitViolation(f"blocks do not parse: {exc}") from exc
    for raw, block in zip(blocks, parsed, strict=True):
        if block is None or type(block) is Block:
            raise BlockKitViolation(f"unknown block {raw!r:.120}")
        try:
            rendered = block.to_dict()
        except Exception as exc:
            raise BlockKitViolation(f"{raw.get('type')} block: {exc}") from exc
        _check_subset(raw, rendered, raw.get("type", "?"))
    ids = [i for block in blocks for i in _action_ids(block)]
    if len(ids) != len(set(ids)):
        raise BlockKitViolation(f"duplicate action_id in {ids}")
    for block in blocks:
        _check_limits(block)


def _check_subset(raw: Any, rendered: Any, where: str) -> None:
    """Everything the bot sent survives slack_sdk's parse/to_dict round trip (nothing unknown)."""
    if isinstance(raw, dict):
        if not isinstance(rendered, dict):
            raise BlockKitViolation(f"{where}: expected an object")
        for key, value in raw.items():
            if key not in rendered:
                raise BlockKitViolation(f"{where}: unknown field {key!r}")
            _check_subset(value, rendered[key], f"{where}.{key}")
    elif isinstance(raw, list):
        if not isinstance(rendered, list) or len(raw) != len(rendered):
            raise BlockKitViolation(f"{where}: list changed in the round trip")
        for index, (a, b) in enumerate(zip(raw, rendered, strict=True)):
            _check_subset(a, b, f"{where}[{index}]")


def _action_ids(block: dict[str, Any]) -> Iterator[str]:
    elements = block.get("elements", []) if block.get("type") == "actions" else []
    if "accessory" in block:
        elements = [block["accessory"]]
    if "element" in block:
        elements = [block["element"]]
    for element in elements:
        if "action_id" in element:
            yield element["action_id"]


def _check_limits(block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind == "section":
        text = block.get("text", {}).get("text", "")
        if "text" in block and not text.strip():
            raise BlockKitViolation("section text is empty")
        if len(text) > MAX_SECTION_TEXT:
            raise BlockKitViolation(f"section text of {len(text)} characters (max {MAX_SECTION_TEXT})")
    if kind == "actions":
        elements = block.get("elements", [])
        if not 1 <= len(elements) <= MAX_ACTIONS_ELEMENTS:
            raise BlockKitViolation(f"actions block with {len(elements)} elements (1..{MAX_ACTIONS_ELEMENTS})")
        for element in elements:
            if element["type"] == "button" and len(element["text"]["text"]) > MAX_BUTTON_TEXT:
                raise BlockKitViolation(f"button text over {MAX_BUTTON_TEXT} characters")
            if element["type"] == "static_select" and not 1 <= len(element.get("options", [])) <= MAX_OPTIONS:
                raise BlockKitViolation(f"static_select needs 1..{MAX_OPTIONS} options")


def _find_element(blocks: list[dict[str, Any]], action_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    for block in blocks:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return block, element
    raise AssertionError(f"no control {action_id!r} in the message")
