"""Neutral views -> Discord message parts: text, one image file, and component rows."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import discord

from bot.model import View

from .controls import controls_view

if TYPE_CHECKING:
    from bot.service import MergeService

MAX_CONTENT = 2000  # Discord's message content limit


@dataclass(frozen=True)
class Rendered:
    """One message's worth of Discord parts. ``image`` is already fitted to the upload limit."""

    content: str
    image: bytes | None = None
    image_name: str | None = None
    view: discord.ui.View | None = None
    keep_image: bool = False  # without an image of its own, leave the message's current one in place

    def file(self) -> discord.File | None:
        """A fresh File (discord.py consumes them), or None without an image."""
        if self.image is None:
            return None
        return discord.File(io.BytesIO(self.image), filename=self.image_name or "image.png")

    def edit_arguments(self) -> dict[str, Any]:
        """Keyword arguments for editing a message to show this (fresh files each call)."""
        arguments: dict[str, Any] = {"content": self.content, "view": self.view}
        file = self.file()
        if file is not None:
            arguments["attachments"] = [file]
        elif not self.keep_image:
            arguments["attachments"] = []
        return arguments

    def send_arguments(self) -> dict[str, Any]:
        """Keyword arguments for posting this as a new message."""
        arguments: dict[str, Any] = {"content": self.content}
        file = self.file()
        if file is not None:
            arguments["file"] = file
        if self.view is not None:
            arguments["view"] = self.view
        return arguments


def clip(text: str, limit: int = MAX_CONTENT) -> str:
    """Text cut to Discord's limit, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    return Rendered(content=clip(view.text), image=image, image_name=name, view=controls_view(view.controls))

