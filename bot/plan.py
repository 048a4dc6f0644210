"""Turning references into what one generation call sends: the sheet, the files, the prompt.

Shared by the service and the CLI's ``--dry-run``, which must not touch the store
or import the OpenAI SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from compose import Sheet, SheetInput, compose_sheet
from compose.layout import Box

from .capabilities import caps_for, wanted_input_fidelity
from .captions import sheet_caption
from .generate import EditArea, InputImage
from .imagework import run_image_work
from .model import MergeOptions, Mode, Reference
from .modes import ModeChoice, choose_mode
from .prompting import build_prompt, legend, refine_legend
from .roles import role_tag
from .sniff import sniff

SHEET_MAX_BYTES = 8 * 1024 * 1024
MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
EXTENSION = {"jpeg": "jpg"}


def extension(fmt: str) -> str:
    return EXTENSION.get(fmt, fmt)


@dataclass(frozen=True)
class SheetFile:
    """The encoded reference sheet and where everything is on it.

    ``compose.Sheet`` also carries the decoded picture (12 MB at 2048x2048); a merge holds its
    prepared call for the whole generation, so only this, the part it uses, is kept.
    """

    data: bytes
    format: str
    size: tuple[int, int]
    boxes: dict[str, Box]
    badge_boxes: dict[str, Box]
    fill_ratio: float
    small: tuple[str, ...] = ()

    @classmethod
    def of(cls, sheet: Sheet) -> SheetFile:
        return cls(sheet.data, sheet.format, sheet.size, sheet.boxes, sheet.badge_boxes, sheet.fill_ratio, sheet.small)


def _compose_file(inputs: Sequence[SheetInput], **options: Any) -> SheetFile:
    """``compose_sheet`` on the image threads, its decoded picture released before it returns."""
    return SheetFile.of(compose_sheet(inputs, **options))


@dataclass(frozen=True)
class Prepared:
    """Everything a generation call needs, built without calling the API.

    ``options`` are the ones to send (``input_fidelity`` filled in for a strong subject where
    the model takes it); ``choice`` says which mode was used and what it sends; ``files`` are
    in send order.
    """

    references: tuple[Reference, ...]
    sheet: SheetFile | None  # None only for a refine of a picture with no references
    prompt: str
    files: tuple[InputImage, ...]
    choice: ModeChoice
    options: MergeOptions
    area: EditArea | None = None  # a region edit's mask or markup for image 1

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

    ``images`` maps each reference's digest to its normalised bytes (and a refine's picture and
    mask digests to theirs). The sheet shows every reference that is not off, with its role beside
    its badge; it is built in every mode, since the chat shows it to people as their legend. A
    refine sends its picture to edit first and the references after it, as the mode allows.
    """
    refine = options.refine
    reserved = 0 if refine is None else 1
    choice = choose_mode(options.mode, options.model, references, reserved=reserved, lead=options.lead)
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
    sheet = (
        await run_image_work(
            _compose_file, inputs, size=size, fmt="jpeg", max_bytes=SHEET_MAX_BYTES, fit_aspect=options.size == "auto"
        )
        if inputs
        else None
    )
    sheet_file = InputImage("reference-sheet.jpg", sheet.data if sheet is not None else b"", MIME["jpeg"])
    references_sent = tuple(_file(ref, images[ref.digest]) for ref in choice.sent)
    if choice.no_room or sheet is None:
        files: tuple[InputImage, ...] = ()
    elif choice.mode is Mode.COLLAGE:
        files = (sheet_file,)
    elif choice.mode is Mode.HYBRID:
        files = (sheet_file, *references_sent)
    else:
        files = references_sent
    sent_options = replace(options, input_fidelity=wanted_input_fidelity(options, choice.panels))
    if refine is None:
        if sheet is None:
            raise ValueError("a merge needs at least one reference")
        prompt = build_prompt(options.prompt, legend(choice.sent, choice.mode, choice.sheet_only))
        return Prepared(references, sheet, prompt, files, choice, sent_options)
    references_legend = "" if choice.no_room else legend(choice.sent, choice.mode, choice.sheet_only, first=2)
    area = None if refine.mask is None else await edit_area(options.model, images[refine.mask])
    prompt = build_prompt(options.prompt, refine_legend(references_legend, None if area is None else area.param))
    files = (_picture_to_edit(images[refine.base]), *files)
    return Prepared(references, sheet, prompt, files, choice, sent_options, area)


async def edit_area(model: str, mask_png: bytes) -> EditArea:
    """A region edit's area as ``model`` takes it: the mask itself, or the markup drawn from it."""
    if caps_for(model).edit_area == "mask":
        return EditArea("mask", InputImage("mask.png", mask_png, MIME["png"]))
    markup = await run_image_work(_markup_from_mask, mask_png)
    return EditArea("markup", InputImage("markup.png", markup, MIME["png"]))


def _markup_from_mask(mask_png: bytes) -> bytes:
    from compose import markup_png, region_from_mask

    return markup_png(region_from_mask(mask_png))


def _picture_to_edit(data: bytes) -> InputImage:
    fmt = sniff(data) or "png"
    return InputImage(f"picture-to-edit.{extension(fmt)}", data, MIME.get(fmt, "image/png"))


def small_notes(references: Sequence[Reference], sheet: SheetFile) -> tuple[str, ...]:
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
