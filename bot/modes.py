"""Which mode a merge really uses, and which references go as their own images, in what order.

``auto`` (the default) sends each reference as its own image when the model takes that many,
and falls back to the labeled sheet (collage) when there are more references than the model
takes, or when it takes one image only; the fallback is said in Details. ``hybrid`` sends the
sheet first, then as many references as fit in the model's limit. Pure: no images, no I/O, so
Details can say the same thing later from the stored job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .capabilities import caps_for
from .model import Mode, Reference
from .prompting import send_order


@dataclass(frozen=True)
class ModeChoice:
    """The mode used (never ``auto``) and what it sends.

    ``sent`` are the references sent as their own images, in send order (separate, hybrid),
    or the sheet's panels in label order (collage). ``sheet_only`` are, in hybrid mode, the
    references past the model's limit, shown on the sheet only. ``note`` says why the mode
    differs from what was asked, or "".
    """

    requested: Mode
    mode: Mode
    sent: tuple[Reference, ...]
    sheet_only: tuple[Reference, ...] = ()
    note: str = ""
    reserved: int = 0  # images sent before the references: a refine's picture to edit
    no_room: bool = False  # the reserved images took every place: no reference is sent

    @property
    def reference_images(self) -> int:
        """The images the references take (the sheet counted as one)."""
        if self.no_room:
            return 0
        if self.mode is Mode.COLLAGE:
            return 1
        if self.mode is Mode.HYBRID:
            return 1 + len(self.sent)
        return len(self.sent)

    @property
    def image_count(self) -> int:
        return self.reserved + self.reference_images

    @property
    def panels(self) -> tuple[Reference, ...]:
        """The references on the sheet: every one that is not off, in label order."""
        if self.mode is Mode.COLLAGE:
            return self.sent
        return tuple(sorted((*self.sent, *self.sheet_only), key=lambda ref: (len(ref.label), ref.label)))

    def summary(self) -> str:
        """ "auto → separate, 3 images" or "collage, 1 image", for Details."""
        used = self.mode.value if self.requested is self.mode else f"{self.requested.value} → {self.mode.value}"
        count = self.image_count
        return f"{used}, {count} image{'s' if count != 1 else ''}"


def choose_mode(
    requested: Mode, model: str, references: Sequence[Reference], *, reserved: int = 0, lead: str | None = None
) -> ModeChoice:
    """What ``requested`` means for ``model`` and these ``references`` (off ones are left out);
    ``lead`` is the label sent first whatever its role (``MergeOptions.lead``, Vary's picture).

    ``reserved`` images go before the references (a refine's picture to edit) and take their
    places in the model's limit. Unknown and retired models raise ``UnsupportedOption`` (from the
    capability table).
    """
    choice = _choose(requested, model, references, caps_for(model).max_input_images - reserved, lead)
    return replace(choice, reserved=reserved) if reserved else choice


def _choose(
    requested: Mode, model: str, references: Sequence[Reference], limit: int, lead: str | None
) -> ModeChoice:
    panels = tuple(ref for ref in references if ref.included)
    ordered = tuple(send_order(references, lead))
    if limit <= 0:
        note = f"{model} takes one image, so only the picture to edit was sent"
        return ModeChoice(requested, Mode.COLLAGE, panels, note=note, no_room=True)
    if requested is Mode.COLLAGE:
        return ModeChoice(requested, Mode.COLLAGE, panels)
    if requested is Mode.SEPARATE:
        return ModeChoice(requested, Mode.SEPARATE, ordered)
    if limit <= 1:
        note = f"{model} takes one image, so the references went as one labeled sheet"
        return ModeChoice(requested, Mode.COLLAGE, panels, note=note)
    if requested is Mode.HYBRID:
        room = limit - 1
        rest = tuple(ref for ref in panels if ref not in ordered[:room])
        note = (
            f"{model} takes {limit} images: the sheet and {room} references; "
            f"{', '.join(ref.label for ref in rest)} only on the sheet"
            if rest
            else ""
        )
        return ModeChoice(requested, Mode.HYBRID, ordered[:room], rest, note)
    if len(ordered) > limit:
        note = f"{len(ordered)} references are more than the {limit} images {model} takes, so they went as one sheet"
        return ModeChoice(requested, Mode.COLLAGE, panels, note=note)
    return ModeChoice(requested, Mode.SEPARATE, ordered)


def expected_image_count(requested: Mode, model: str, count: int, *, reserved: int = 0) -> int:
    """The images ``choose_mode`` will send for ``count`` references none of which is off (after
    ``reserved`` ones, a refine's picture): what a new merge is checked and priced for before its
    references are gathered."""
    limit = caps_for(model).max_input_images - reserved
    if limit <= 0 or (reserved and not count):
        return reserved
    return reserved + _expected(requested, limit, count)


def _expected(requested: Mode, limit: int, count: int) -> int:
    if requested is Mode.COLLAGE:
        return 1
    if requested is Mode.SEPARATE:
        return count
    if limit <= 1:
        return 1
    if requested is Mode.HYBRID:
        return 1 + min(count, limit - 1)
    return count if count <= limit else 1


def sends_sheet_only(requested: Mode, model: str, count: int) -> bool:
    """True when ``choose_mode`` will send the sheet alone for ``count`` references none of which is off:
    the references then need no copy of their own before the request (the sheet is built from the files)."""
    if requested is Mode.COLLAGE:
        return True
    if requested is Mode.SEPARATE:
        return False
    limit = caps_for(model).max_input_images
    return limit <= 1 or (requested is Mode.AUTO and count > limit)
