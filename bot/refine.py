"""A Refine's inputs: the picture it edits and, from a marked-up copy, the area it may change.

A person draws on a copy of the result (any editor, any bright colour) and posts it; the chat
may shrink and re-encode it. The copy is downloaded by the safe fetcher and decoded in the same
fair, time-boxed lane as any upload, then ``compose.marks`` finds the region and turns it into the
``mask`` images.edit takes (stored as a blob; ``bot.plan`` sends it, or a ``markup`` drawn from it,
as the model takes). The marks themselves are never sent.
"""

from __future__ import annotations

from collections.abc import Hashable

from compose import ComposeError, MarkedCopyMismatch, NoMarksFound, edit_mask_png, find_marked_region, probe

from .errors import ImageRejected, MarkedCopyRefused
from .fetch import Fetcher
from .gather import REFERENCE_MAX_SIDE
from .imagework import normalize_upload, run_image_work
from .model import ImageSource
from .settings import Limits
from .sniff import sniff

EDITABLE_FORMATS = frozenset({"png", "jpeg", "webp"})  # what images.edit takes as image 1


async def marked_mask(
    picture: bytes, marked: ImageSource, fetcher: Fetcher, limits: Limits, *, owner: Hashable
) -> bytes:
    """The mask PNG (the size of ``picture``, transparent exactly where the edit may happen) of
    the area drawn on ``marked``, a possibly shrunk and re-encoded copy of ``picture``.

    Raises ``MarkedCopyRefused`` saying what to do when ``marked`` is another picture or carries no
    marks, ``ImageRejected`` when it is no usable image, ``FetchError`` when it cannot be downloaded.
    """
    data = await fetcher.fetch(marked)
    try:
        copy = await normalize_upload(
            data,
            marked.name,
            owner=owner,
            budget_s=limits.decode_timeout_s,
            max_side=REFERENCE_MAX_SIDE,
            max_pixels=limits.max_image_pixels,
        )
        region = await run_image_work(find_marked_region, picture, copy.data, marked.name)
    except (MarkedCopyMismatch, NoMarksFound) as exc:
        raise MarkedCopyRefused(f"{exc.name}: {exc.reason}. Nothing was sent or spent.") from None
    except ComposeError as exc:
        raise ImageRejected(exc.name, exc.reason) from None
    mask: bytes = await run_image_work(edit_mask_png, region)
    return mask


def check_picture(data: bytes, name: str, max_pixels: int) -> None:
    """Refuse, naming the file, a picture to edit the API would not take (PNG, JPEG or WebP)."""
    fmt = sniff(data)
    if fmt not in EDITABLE_FORMATS:
        raise ImageRejected(name, "the picture to edit must be a PNG, JPEG or WebP file")
    try:
        probe(data, name, max_pixels)
    except ComposeError as exc:
        raise ImageRejected(exc.name, exc.reason) from None
