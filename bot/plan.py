"""Turning references into what one generation call sends: the sheet, the files, the prompt.

Shared by the service and the CLI's ``--dry-run``, which must not touch the store
or import the OpenAI SDK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from compose import Sheet, SheetInput, compose_sheet

from .capabilities import wanted_input_fidelity
from .captions import sheet_caption
from .fetch import Fetcher
from .gather import gather
from .generate import InputImage
from .imagework import run_image_work
from .model import MergeOptions, MergeRequest, Mode, Reference
from .modes import ModeChoice, choose_mode
from .prompting import build_prompt, legend
from .roles import check_request_labels, role_tag
from .settings import Settings
from .sniff import sniff

SHEET_MAX_BYTES = 8 * 1024 * 1024
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSION = {"jpeg": "jpg"}


def extension(fmt: str) -> str:
    return EXTENSION.get(fmt, fmt)


@dataclass(frozen=True)
class Prepared:
    """Everything a generation call needs, built without calling the API.

    ``options`` are the ones to send (``input_fidelity`` filled in for a strong subject where
    the model takes it); ``choice`` says which mode was used and what it sends; ``files`` are
    in send order.
    """

    references: tuple[Reference, ...]
    sheet: Sheet
    prompt: str
    files: tuple[InputImage, ...]
    choice: ModeChoice
    options: MergeOptions

    @property
    def mode(self) -> Mode:
        return self.choice.mode


def sheet_size(options: MergeOptions, side: int) -> tuple[int, int]:
    """The reference sheet follows the output's aspect ratio, ``side`` on its long edge.

    With the size on ``auto`` this is a square that ``compose_sheet(fit_aspect=True)`` reshapes.
    """
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

    ``images`` maps each reference's digest to its normalised bytes. The sheet shows every
    reference that is not off, with its role beside its badge; it is built in every mode,
    since the chat shows it to people as their legend.
    """
    choice = choose_mode(options.mode, options.model, references)
    inputs = [
        SheetInput(
            data=images[ref.digest],
            label=ref.label,
            weight=ref.weight,
            caption=sheet_caption(ref.author, ref.caption),
            name=ref.source,
            tag=role_tag(ref),
        )
        for ref in choice.panels
    ]
    size = sheet_size(options, sheet_side)
    sheet = await run_image_work(
        compose_sheet, inputs, size=size, fmt="jpeg", max_bytes=SHEET_MAX_BYTES, fit_aspect=options.size == "auto"
    )
    sheet_file = InputImage("reference-sheet.jpg", sheet.data, MIME["jpeg"])
    references_sent = tuple(_file(ref, images[ref.digest]) for ref in choice.sent)
    if choice.mode is Mode.COLLAGE:
        files: tuple[InputImage, ...] = (sheet_file,)
    elif choice.mode is Mode.HYBRID:
        files = (sheet_file, *references_sent)
    else:
        files = references_sent
    prompt = build_prompt(options.prompt, legend(choice.sent, choice.mode, choice.sheet_only))
    sent_options = replace(options, input_fidelity=wanted_input_fidelity(options, choice.panels))
    return Prepared(references, sheet, prompt, files, choice, sent_options)


def small_notes(references: Sequence[Reference], sheet: Sheet) -> tuple[str, ...]:
    """A line for each reference the sheet shows small because its picture is small (never blown up past 2x)."""
    sizes = {ref.label: (ref.width, ref.height) for ref in references}
    return tuple(
        f"{label} is only {sizes[label][0]}x{sizes[label][1]} px, so it is shown small on the sheet "
        "(never more than twice its size)."
        for label in sheet.small
        if label in sizes
    )


def _file(reference: Reference, data: bytes) -> InputImage:
    fmt = sniff(data) or "png"
    return InputImage(f"{reference.label}.{extension(fmt)}", data, MIME.get(fmt, "image/png"))


async def dry_run(request: MergeRequest, settings: Settings, fetcher: Fetcher) -> tuple[Prepared, tuple[str, ...]]:
    """Gather and prepare ``request`` without storing or generating; also the skipped-file warnings."""
    gathered = await gather(request.sources, fetcher, settings.limits)
    references = tuple(
        item.reference(hashlib.sha256(item.image.data).hexdigest(), request.weights, request.roles)
        for item in gathered.images
    )
    check_request_labels(request, references)
    images = {ref.digest: item.image.data for ref, item in zip(references, gathered.images, strict=True)}
    return await prepare(request.options, references, images, settings.sheet_side), gathered.warnings
