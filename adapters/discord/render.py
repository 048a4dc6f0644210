"""Neutral views -> Discord message parts: text, images, and component rows.

A result carries its reference sheet as a second image beside it, so the letters that
"More B" refers to stay in sight."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import discord

from bot.model import Outcome, View

from .controls import controls_view
from .escape import escape

if TYPE_CHECKING:
    from bot.service import MergeService

MAX_CONTENT = 2000  # Discord's message content limit
SHEET_SHARE = 5  # the sheet beside a result may use up to a fifth of the upload limit


@dataclass(frozen=True)
class Rendered:
    """One message's worth of Discord parts. Images are already fitted to the upload limit;
    ``sheet`` (the reference sheet shown beside a result) comes after ``image``."""

    content: str
    image: bytes | None = None
    image_name: str | None = None
    view: discord.ui.View | None = None
    keep_image: bool = False  # without an image of its own, leave the message's current one in place
    sheet: bytes | None = None
    sheet_name: str | None = None

    def files(self) -> list[discord.File]:
        """Fresh Files (discord.py consumes them): the image, then the sheet; empty without an image."""
        if self.image is None:
            return []
        files = [discord.File(io.BytesIO(self.image), filename=self.image_name or "image.png")]
        if self.sheet is not None:
            files.append(discord.File(io.BytesIO(self.sheet), filename=self.sheet_name or "sheet.jpg"))
        return files

    def edit_arguments(self) -> dict[str, Any]:
        """Keyword arguments for editing a message to show this (fresh files each call)."""
        arguments: dict[str, Any] = {"content": self.content, "view": self.view}
        files = self.files()
        if files:
            arguments["attachments"] = files
        elif not self.keep_image:
            arguments["attachments"] = []
        return arguments

    def send_arguments(self) -> dict[str, Any]:
        """Keyword arguments for posting this as a new message."""
        arguments: dict[str, Any] = {"content": self.content}
        files = self.files()
        if files:
            arguments["files"] = files
        if self.view is not None:
            arguments["view"] = self.view
        return arguments


def clip(text: str, limit: int = MAX_CONTENT) -> str:
    """Text cut to Discord's limit, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(text: str, limit: int = MAX_CONTENT) -> str:
    """The core's plain text (which may quote what people typed) as message content: escaped, then clipped."""
    return clip(escape(text), limit)


async def fitted_image(
    service: MergeService, image: bytes, name: str | None, max_bytes: int
) -> tuple[bytes, str]:
    """The image re-encoded or downscaled by the core until it fits ``max_bytes``, and its file name."""
    data, extension = await service.fit_for_upload(image, max_bytes)
    stem = PurePath(name).stem if name else "image"
    return data, f"{stem or 'image'}.{extension}"


async def render(service: MergeService, view: View, max_bytes: int) -> Rendered:
    """The Discord parts for ``view`` with its image fitted to ``max_bytes``."""
    image: bytes | None = None
    name: str | None = None
    if view.image is not None:
        image, name = await fitted_image(service, view.image, view.image_name, max_bytes)
    return Rendered(content=shown(view.text), image=image, image_name=name, view=controls_view(view.controls))


async def render_outcome(service: MergeService, outcome: Outcome, max_bytes: int) -> Rendered:
    """The Discord parts for an outcome: a result gets its reference sheet beside it, both
    within ``max_bytes`` together (the sheet is small; the result takes what is left)."""
    view = outcome.view
    job = outcome.job
    sheet = await service.sheet_image(job) if job is not None and view.image is not None and outcome.ok else None
    if sheet is None:
        return await render(service, view, max_bytes)
    assert view.image is not None and job is not None
    sheet_data, sheet_name = await fitted_image(service, sheet, f"sheet-{job.id}.jpg", max_bytes // SHEET_SHARE)
    image, name = await fitted_image(service, view.image, view.image_name, max_bytes - len(sheet_data))
    return Rendered(
        content=shown(view.text),
        image=image,
        image_name=name,
        view=controls_view(view.controls),
        sheet=sheet_data,
        sheet_name=sheet_name,
    )

