"""The text sent with the images: the person's words verbatim, then a short legend.

The image API takes references as unlabeled files, so the legend says which label is which
image (collage: panels on one sheet; separate: "image 1 is B ...") and which references the
weights favour. Captions come from chat messages, so they are cut to one short line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .model import Mode, Reference

CAPTION_MAX_CHARS = 80
_CONTROL_OR_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def clean_caption(caption: str, limit: int = CAPTION_MAX_CHARS) -> str:
    """``caption`` on one line: control characters and runs of whitespace become one space,
    cut at ``limit`` characters with an ellipsis."""
    text = _CONTROL_OR_SPACE.sub(" ", caption).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _label_key(reference: Reference) -> tuple[int, str]:
    return len(reference.label), reference.label  # Z before AA


def order_for_separate(references: Sequence[Reference]) -> list[Reference]:
    """The send order in separate mode: heaviest first, ties by label (A, B, ..., Z, AA)."""
    return sorted(references, key=lambda r: (-r.weight, *_label_key(r)))


def _weight(value: float) -> str:
    return format(round(value, 2), "g")


def _named(reference: Reference) -> str:
    return f"{reference.label} (weight {_weight(reference.weight)})"


def _joined(names: Sequence[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def emphasis(references: Sequence[Reference]) -> str:
    """One sentence saying which references to favour, or "" when every weight is equal.

    The baseline is weight 1 (a reference nobody rebalanced) when one has it, else the lightest.
    """
    weights = {r.weight for r in references}
    if len(weights) < 2:
        return ""
    baseline = 1.0 if 1.0 in weights else min(weights)
    above = sorted((r for r in references if r.weight > baseline), key=lambda r: (-r.weight, *_label_key(r)))
    below = sorted((r for r in references if r.weight < baseline), key=lambda r: (r.weight, *_label_key(r)))
    parts: list[str] = []
    if above:
        parts.append("Take most from " + _joined([_named(r) for r in above]))
    if below:
        parts.append(("less from " if above else "Take less from ") + _joined([_named(r) for r in below]))
    return ", ".join(parts) + "."


def _described(reference: Reference) -> tuple[str, str]:
    return reference.label, clean_caption(reference.caption)


def legend(references: Sequence[Reference], mode: Mode) -> str:
    """The label legend and emphasis, without the person's words."""
    if not references:
        return ""
    if mode is Mode.COLLAGE:
        panels = [f"{label} = {caption}" if caption else label for label, caption in map(_described, references)]
        lines = [
            "The reference sheet shows labeled panels: " + "; ".join(panels) + ".",
            "Use the panels as references only; do not draw the labels or copy the sheet's layout.",
        ]
    else:
        images = [
            f"image {index} is {label}" + (f" ({caption})" if caption else "")
            for index, (label, caption) in enumerate(map(_described, references), start=1)
        ]
        lines = ["Reference images: " + ", ".join(images) + "."]
    stress = emphasis(references)
    if stress:
        lines.append(stress)
    return "\n".join(lines)


def build_prompt(user_prompt: str, references: Sequence[Reference], mode: Mode) -> str:
    """The person's words, unchanged, then the legend.

    In separate mode ``references`` must already be in send order (see ``order_for_separate``):
    "image 1" is the first file sent.
    """
    extra = legend(references, mode)
    if not extra:
        return user_prompt
    if not user_prompt.strip():
        return extra
    return f"{user_prompt}\n\n{extra}"
