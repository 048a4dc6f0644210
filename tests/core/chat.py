"""A platform-free chat surface for core scenarios (errbot's test backend, in miniature).

Post images to a thread, run a merge, press the controls on what comes back, and
read every reply and progress update in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.model import (
    Action,
    ActionKind,
    Actor,
    Control,
    ImageSource,
    Job,
    MergeOptions,
    MergeRequest,
    Origin,
    Outcome,
    Progress,
    Role,
    Stage,
)
from bot.service import MergeService
from bot.worker import Delivery


@dataclass
class ChatSurface:
    service: MergeService
    workspace: str = "team-1"
    channel: str = "general"
    thread: list[ImageSource] = field(default_factory=list)
    replies: list[Outcome] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)

    def post(self, name: str, data: bytes, author: str = "ana", text: str = "", message: str = "") -> None:
        """Post one image; images posted with the same ``message`` id arrive as one message."""
        self.thread.append(ImageSource(name=name, data=data, author=author, caption=text, message_id=message))

    def origin(self, user: str) -> Origin:
        return Origin("chat", self.workspace, self.channel, user, thread_id="t1", user_name=user)

    async def merge(
        self,
        prompt: str,
        user: str = "ana",
        weights: dict[str, float] | None = None,
        roles: dict[str, Role] | None = None,
        **options: Any,
    ) -> Outcome:
        request = MergeRequest(
            self.origin(user),
            tuple(self.thread),
            MergeOptions(prompt=prompt, **options),
            weights=weights or {},
            roles=roles or {},
        )
        outcome = await self.service.merge(request, self._on_progress)
        return self._show(outcome)

    async def press(
        self,
        control: Control,
        user: str = "ana",
        moderator: bool = False,
        prompt: str | None = None,
        roles: str | None = None,
        marked: bytes | None = None,
    ) -> Outcome:
        actor = Actor("chat", self.workspace, user, is_moderator=moderator)
        action = Action(control.kind, control.job_id, control.arg)
        copy = None if marked is None else ImageSource(name="marked.jpg", data=marked)
        outcome = await self.service.act(
            action, actor, self._on_progress, prompt=prompt, roles=roles, origin=self.origin(user), marked=copy
        )
        return self._show(outcome)

    def _show(self, outcome: Outcome) -> Outcome:
        """Post the outcome in the thread and confirm it, as the adapters do."""
        self.replies.append(outcome)
        if outcome.job is not None:
            self.service.outcome_shown(outcome.job.id)
        return outcome

    async def _on_progress(self, update: Progress) -> None:
        self.progress.append(update)

    async def resume(self, job: Job) -> Delivery:
        """Where a job nobody waits for (resumed after a restart) shows up: the same lists."""

        async def finish(outcome: Outcome) -> None:
            self.replies.append(outcome)

        return Delivery(self._on_progress, finish)

    def outcome_of(self, job_id: str) -> Outcome | None:
        return next((o for o in self.replies if o.job is not None and o.job.id == job_id), None)

    def stages(self, job_id: str) -> list[Stage]:
        return [p.stage for p in self.progress if p.job_id == job_id]


def control(outcome: Outcome, kind: ActionKind, arg: str | None = None) -> Control:
    """The control of ``kind`` (and ``arg``) on an outcome's view."""
    for candidate in outcome.view.controls:
        if candidate.kind is kind and (arg is None or candidate.arg == arg):
            return candidate
    raise AssertionError(f"no {kind.value} control in {[c.label for c in outcome.view.controls]}")


async def eventually(predicate: Callable[[], object], within: float = 10.0) -> None:
    """Wait until ``predicate()`` is true, polling briefly; fail after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 (polls state the doubles expose, no event to wait on)
            await asyncio.sleep(0.01)


def area(box: tuple[int, int, int, int]) -> int:
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0)
