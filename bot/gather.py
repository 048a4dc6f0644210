"""Gathering: label every source A, B, C… as found, download and normalise them off the event loop.

Letters are given before anything is downloaded (``bot.labels``), so a bad file among
good ones keeps its letter unused and becomes a warning that names both; more sources
than the limit keep the most recent. Only when nothing usable is left is the merge refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from compose import ComposeError, Normalized

from .captions import parse_caption
from .errors import FetchError, ImageRejected, NoImages, TooManyImages
from .fetch import Fetcher
from .imagework import normalize_upload
from .labels import Labeled, assign_labels, skipped_line, span, unusable_why
from .model import ImageSource, Reference, Role, clamp_weight
from .settings import Limits

log = logging.getLogger(__name__)

# The largest side the models' standard sizes use; it also lets a 12 MP JPEG decode at half
# scale (draft mode), four times less work than at 2048.
REFERENCE_MAX_SIDE = 1536
PARALLEL_DOWNLOADS = 4


@dataclass(frozen=True)
class GatheredImage:
    label: str
    image: Normalized
    source: ImageSource
    caption: str

    def reference(
        self, digest: str, weights: Mapping[str, float], roles: Mapping[str, Role] | None = None
    ) -> Reference:
        """This image as a reference stored under ``digest``, weighted as ``weights`` asks.

        Its role is the one ``roles`` gives its label, else the one its message's text starts with.
        """
        role = (roles or {}).get(self.label) or parse_caption(self.source.caption).role or Role.NONE
        return Reference(
            label=self.label,
            digest=digest,
            width=self.image.width,
            height=self.image.height,
            byte_size=len(self.image.data),
            weight=clamp_weight(weights.get(self.label, 1.0)),
            caption=self.caption,
            author=self.source.author,
            source=self.source.name,
            role=role,
        )


@dataclass(frozen=True)
class Gathered:
    """The usable images, the lines the reply adds about the rest, and why each unused letter is unused."""

    images: tuple[GatheredImage, ...]
    warnings: tuple[str, ...]
    missing: Mapping[str, str] = field(default_factory=dict)  # label -> why it has no reference
    rejected: tuple[ImageRejected, ...] = ()  # the files that could not be used
    labels: tuple[str, ...] = ()  # every letter given, used or not


def check_count(count: int, limit: int) -> None:
    if count > limit:
        raise TooManyImages(
            f"I found {count} images but can merge at most {limit} at once. "
            "Start from a later message, or remove some images, and try again."
        )


def most_recent(labeled: Sequence[Labeled], limit: int, start_later_hint: str = "") -> tuple[list[Labeled], str]:
    """The newest ``limit`` sources, and a line naming the ones left out ("" when all fit)."""
    if len(labeled) <= limit:
        return list(labeled), ""
    left_out = labeled[: len(labeled) - limit]
    line = (
        f"Left out {span([item.label for item in left_out])}: I merge at most {limit} images at once, "
        f"so I took the {limit} most recent."
    )
    hint = start_later_hint or "To choose which ones, start from a later message."
    return list(labeled[len(left_out) :]), f"{line} {hint}"


async def gather(
    sources: Sequence[ImageSource],
    fetcher: Fetcher,
    limits: Limits,
    *,
    start_later_hint: str = "",
    owner: Hashable | None = None,
    keep_quick: bool = False,
) -> Gathered:
    """Label ``sources`` in the order found, keep the newest that fit, download and normalise them.

    A letter stays with its source: an unusable file keeps its letter unused, and the
    warnings say which letter was skipped and why. ``owner`` (the person asking) shares
    the image workers fairly with other people; at most ``PARALLEL_DOWNLOADS`` files are
    held, downloaded or decoding, at once. With ``keep_quick`` the files that decode quickly
    are kept as downloaded (``Normalized.as_received``), for a sheet built straight from them.
    """
    owner = owner if owner is not None else object()
    if not sources:
        raise NoImages(
            "I found no images to merge. Attach images to messages in the thread, then ask again."
        )
    labeled, notes = assign_labels(sources)
    kept, left_out_line = most_recent(labeled, limits.max_images, start_later_hint)
    missing = {item.label: f"{item.label} was left out (at most {limits.max_images} images per merge)"
               for item in labeled[: len(labeled) - len(kept)]}
    gate = asyncio.Semaphore(PARALLEL_DOWNLOADS)

    async def load(source: ImageSource) -> Normalized | FetchError | ComposeError:
        try:
            async with gate:
                data = await fetcher.fetch(source)
                return await normalize_upload(
                    data,
                    source.name,
                    owner=owner,
                    budget_s=limits.decode_timeout_s,
                    max_side=REFERENCE_MAX_SIDE,
                    max_pixels=limits.max_image_pixels,
                    keep_quick=keep_quick,
                )
        except (FetchError, ComposeError) as exc:
            log.info("skipping a reference: %s", exc)
            return exc

    loaded = await asyncio.gather(*(load(item.source) for item in kept))
    images: list[GatheredImage] = []
    rejected: list[ImageRejected] = []
    warnings: list[str] = [left_out_line] if left_out_line else []
    for item, result in zip(kept, loaded, strict=True):
        if isinstance(result, FetchError | ComposeError):
            rejected.append(ImageRejected(result.name, result.reason))
            warnings.append(skipped_line(item.label, result.name, result.reason))
            missing[item.label] = unusable_why(item.label, result.name, result.reason)
        else:
            images.append(GatheredImage(item.label, result, item.source, item.caption))
    warnings.extend(notes)
    if not images:
        raise NoImages("None of the files could be used as an image:\n" + "\n".join(f"• {w}" for w in warnings))
    return Gathered(tuple(images), tuple(warnings), missing, tuple(rejected), tuple(i.label for i in labeled))
