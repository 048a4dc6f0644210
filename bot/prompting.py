"""The text sent with the images: the person's words verbatim, then a short legend.

The image API takes references as unlabeled files, and the models ignore numeric weights. So,
as OpenAI's prompting guide for the GPT Image models recommends, the legend names every image
by index and purpose, one line each: its label, its role's instruction (what to take from it)
and its strength ("Image 1 (A, subject, high): keep this subject's identity exactly…"). In
collage mode the lines name the sheet's panels instead; in hybrid mode image 1 is the sheet and
the lines name the images after it. The legend is sent with every call, so it stays short;
captions come from chat messages, so they are cut to one short line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .model import Mode, Reference, Role, Strength

CAPTION_MAX_CHARS = 80
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")

ROLE_INSTRUCTIONS: Mapping[Role, str] = {
    Role.NONE: "a reference",
    Role.SUBJECT: "keep this subject's identity exactly: face, hair, outfit, shape and markings",
    Role.STYLE: "take its medium, palette, lighting and brushwork; do not copy what it shows",
    Role.SCENE: "use its setting, background and composition",
    Role.OBJECT: "include this item as it is",
}
ROLE_NAMES: Mapping[Role, str] = {Role.STYLE: "style only"}
STRENGTH_INSTRUCTIONS: Mapping[Strength, str] = {
    Strength.LOW: "a light touch, let the others lead",
    Strength.MEDIUM: "",
    Strength.HIGH: "follow it closely",
    Strength.MAX: "follow it as exactly as you can",
}
SHEET_RULE = "do not draw the labels or copy the sheet's layout"


def clean_caption(caption: str, limit: int = CAPTION_MAX_CHARS) -> str:
    """``caption`` on one line: control characters and runs of whitespace become one space,
    cut at ``limit`` characters with an ellipsis."""
    text = _CONTROL_OR_SPACE.sub(" ", caption).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _label_key(reference: Reference) -> tuple[int, str]:
    return len(reference.label), reference.label  # Z before AA


def send_order(references: Sequence[Reference], lead: str | None = None) -> list[Reference]:
    """The order references are sent as images: the ``lead`` label first when there is one (the
    picture a Vary starts from), then subjects, then by strength (weight), ties by label (A, B,
    ..., Z, AA). References that are off are left out."""
    return sorted(
        (r for r in references if r.included),
        key=lambda r: (r.label != lead, r.role is not Role.SUBJECT, -r.weight, *_label_key(r)),
    )


def describe(reference: Reference) -> str:
    """The legend's words for one reference after its name: role and strength, then its caption."""
    words = ROLE_INSTRUCTIONS[reference.role]
    strength = STRENGTH_INSTRUCTIONS[reference.strength]
    if strength:
        words += f"; {strength}"
    caption = clean_caption(reference.caption)
    if caption:
        words += f". Caption: “{caption}”"
    return words + "."


def _tags(reference: Reference) -> list[str]:
    tags = [] if reference.role is Role.NONE else [ROLE_NAMES.get(reference.role, reference.role.value)]
    if reference.strength is not Strength.MEDIUM:
        tags.append(reference.strength.value)
    return tags


def image_line(index: int, reference: Reference) -> str:
    """ "Image 2 (B, style only, high): take its medium…" """
    return f"Image {index} ({', '.join([reference.label, *_tags(reference)])}): {describe(reference)}"


def panel_line(reference: Reference) -> str:
    """ "Panel B (style only): take its medium…" """
    tags = _tags(reference)
    named = f"Panel {reference.label} ({', '.join(tags)})" if tags else f"Panel {reference.label}"
    return f"{named}: {describe(reference)}"


def legend(sent: Sequence[Reference], mode: Mode, sheet_only: Sequence[Reference] = (), *, first: int = 1) -> str:
    """The legend, without the person's words, for the mode actually used (never ``auto``).

    ``sent`` are the references sent as their own images, in send order (separate, hybrid), or
    every panel of the sheet (collage). In hybrid mode ``sheet_only`` are the references that
    did not fit within the model's image limit: they are only on the sheet. ``first`` is the
    index of the first reference image (2 after a refine's picture to edit).
    """
    if mode is Mode.AUTO:
        raise ValueError("legend needs the mode actually used; resolve auto first")
    if mode is Mode.COLLAGE:
        if not sent:
            return ""
        return "\n".join([f"Image {first} is a reference sheet: {SHEET_RULE}.", *map(panel_line, sent)])
    if mode is Mode.HYBRID:
        head = (
            f"Image {first} is a reference sheet showing every reference with its label ({SHEET_RULE}); "
            "the images after it are those references at full size."
        )
        lines = [image_line(index, ref) for index, ref in enumerate(sent, start=first + 1)]
        return "\n".join([head, *lines, *map(panel_line, sheet_only)])
    return "\n".join(image_line(index, ref) for index, ref in enumerate(sent, start=first))


EDIT_BASE = (
    "Image 1 is the picture to edit. Change only what is asked above and keep everything else exactly as it is: "
    "the composition, the subjects and their poses, the colours, the lighting and the style."
)
EDIT_AREAS: Mapping[str, str] = {
    "mask": "Change only the area the mask leaves open and blend it with the rest; draw no outline or marks.",
    "markup": (
        "The markup overlaid on image 1 shows the area to change: change only that area, "
        "and do not draw the markup itself."
    ),
}
EDIT_REFERENCES = "The images after it are the references the picture was made from, for consistency only."


def refine_legend(references_legend: str, area: str | None = None) -> str:
    """The legend of a refine: image 1 is the picture to edit (in ``area`` only: ``mask`` or
    ``markup``), then the references' own legend (numbered from 2), if any were sent."""
    lines = [EDIT_BASE]
    if area is not None:
        lines.append(EDIT_AREAS[area])
    if references_legend:
        lines += [EDIT_REFERENCES, references_legend]
    return "\n".join(lines)


def build_prompt(user_prompt: str, extra: str) -> str:
    """The person's words, unchanged, then the legend ``extra``."""
    if not extra:
        return user_prompt
    if not user_prompt.strip():
        return extra
    return f"{user_prompt}\n\n{extra}"
