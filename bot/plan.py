"""Turning references into what one generation call sends: the sheet, the files, the prompt.

Shared by the service and the CLI's ``--dry-run``, which must not touch the store
or import the OpenAI SDK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from compose import Sheet, SheetInput, compose_sheet

from .captions import sheet_caption
from .fetch import Fetcher
from .gather import gather
from .generate import InputImage
from .imagework import run_image_work
from .model import MergeOptions, MergeRequest, Mode, Reference
from .prompting import build_prompt, order_for_separate
from .settings import Settings
from .sniff import sniff

SHEET_MAX_BYTES = 8 * 1024 * 1024
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSION = {"jpeg": "jpg"}


def extension(fmt: str) -> str:
    return EXTENSION.get(fmt, fmt)


@dataclass(frozen=True)
class Prepared:
    """Everything a generation call needs, built without calling the API."""

    references: tuple[Reference, ...]
    sheet: Sheet
    prompt: str
    files: tuple[InputImage, ...]


def sheet_size(options: MergeOptions, side: int) -> tuple[int, int]:
    """The reference sheet follows the output's aspect ratio, ``side`` on its long edge."""
    width, sep, height = options.size.partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        return side, side
    w, h = int(width), int(height)
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


async def prepare(
    options: MergeOptions, references: tuple[Reference, ...], images: Mapping[str, bytes], sheet_side: int
) -> Prepared:
    """Compose the sheet off the event loop and choose the files and prompt for ``options.mode``.

    ``images`` maps each reference's digest to its normalised bytes.
    """
    inputs = [
        SheetInput(
            data=images[ref.digest],
            label=ref.label,
            weight=ref.weight,
            caption=sheet_caption(ref.author, ref.caption),
            name=ref.source,
        )
        for ref in references
    ]
    size = sheet_size(options, sheet_side)
    sheet = await run_image_work(compose_sheet, inputs, size=size, fmt="jpeg", max_bytes=SHEET_MAX_BYTES)
    if options.mode is Mode.SEPARATE:
        ordered = order_for_separate(references)
        files = tuple(_file(ref, images[ref.digest]) for ref in ordered)
        prompt = build_prompt(options.prompt, ordered, Mode.SEPARATE)
    else:
        files = (InputImage("reference-sheet.jpg", sheet.data, MIME["jpeg"]),)
        prompt = build_prompt(options.prompt, references, Mode.COLLAGE)
    return Prepared(references, sheet, prompt, files)


def _file(reference: Reference, data: bytes) -> InputImage:
    fmt = sniff(data) or "png"
    return InputImage(f"{reference.label}.{extension(fmt)}", data, MIME.get(fmt, "image/png"))


async def dry_run(request: MergeRequest, settings: Settings, fetcher: Fetcher) -> tuple[Prepared, tuple[str, ...]]:
    """Gather and prepare ``request`` without storing or generating; also the skipped-file warnings."""
    gathered = await gather(request.sources, fetcher, settings.limits)
    references = tuple(
        item.reference(hashlib.sha256(item.image.data).hexdigest(), request.weights) for item in gathered.images
    )
    images = {ref.digest: item.image.data for ref, item in zip(references, gathered.images, strict=True)}
    return await prepare(request.options, references, images, settings.sheet_side), gathered.warnings
