"""/merge usage in the core: a person's merges and spend, their quota left, the workspace's for moderators."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.model import Actor
from bot.usage import month_start
from tests.core.chat import ChatSurface
from tests.imagegen import png


async def test_usage_counts_the_persons_merges_and_what_is_left(chat: ChatSurface) -> None:
    chat.post("a.png", png(seed=1))
    for _ in range(2):
        assert (await chat.merge("merge", user="ana")).ok
    assert (await chat.merge("merge", user="ben")).ok

    view = await chat.service.usage(Actor("chat", chat.workspace, "ana"))
    assert view.ephemeral
    assert "Today: 2 merges, about $" in view.text
    assert "48 of your 50 daily merges left" in view.text
    assert "This month: 2 merges" in view.text
    assert "workspace" not in view.text, "only moderators see the workspace's figures"

    moderator = await chat.service.usage(Actor("chat", chat.workspace, "mo", is_moderator=True))
    assert "Today: 0 merges" in moderator.text
    assert "This workspace" in moderator.text and "Today: 3 merges" in moderator.text
    assert "daily budget left" in moderator.text


async def test_usage_of_someone_who_never_merged(chat: ChatSurface) -> None:
    view = await chat.service.usage(Actor("chat", chat.workspace, "new"))
    assert "Today: 0 merges, about $0.00" in view.text and "50 of your 50" in view.text


def test_month_starts_on_the_first_at_midnight_utc() -> None:
    assert month_start(datetime(2026, 12, 17, 15, 4, tzinfo=UTC)) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
