"""Who people are: display names for captions and workspace admins for delete rights."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.model import Actor

from .webapi import call

log = logging.getLogger(__name__)

CACHE_TTL_S = 300.0


@dataclass(frozen=True)
class Person:
    """Someone in the workspace, as much as mergebot needs."""

    user_id: str
    name: str
    is_admin: bool


class People:
    """``users.info`` with a short cache; a lookup that fails yields a plain, non-admin person."""

    def __init__(self, client: AsyncWebClient, ttl_s: float = CACHE_TTL_S) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Person]] = {}

    async def get(self, user_id: str) -> Person:
        """The person ``user_id`` (cached for ``ttl_s``)."""
        cached = self._cache.get(user_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < self._ttl_s:
            return cached[1]
        response = await call("users.info", self._client.users_info(user=user_id))
        user = response.get("user") if response is not None else None
        if not isinstance(user, dict):
            return Person(user_id, user_id, False)
        profile = user.get("profile") or {}
        name = profile.get("display_name") or user.get("real_name") or user.get("name") or user_id
        person = Person(user_id, str(name), bool(user.get("is_admin") or user.get("is_owner")))
        self._cache[user_id] = (now, person)
        return person

    async def actor(self, team_id: str, user_id: str) -> Actor:
        """The neutral actor for someone pressing a control; workspace admins and owners moderate."""
        person = await self.get(user_id)
        return Actor(platform="slack", workspace_id=team_id, user_id=user_id, is_moderator=person.is_admin)
