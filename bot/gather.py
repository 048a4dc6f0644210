"""Gathering: download every source, normalise it off the event loop, label A, B, C…

A bad file among good ones becomes a warning that names it; only when nothing
usable is left is the merge refused.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from compose import ComposeError, Normalized, normalize, sheet_label

from .errors import FetchError, NoImages, TooManyImages
from .fetch import Fetcher
from .imagework import run_image_work
from .model import ImageSource, Reference, clamp_weight
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

    def reference(self, digest: str, weights: Mapping[str, float]) -> Reference:
        """This image as a reference stored under ``digest``, weighted as ``weights`` asks."""
        return Reference(
            label=self.label,
            digest=digest,
            width=self.image.width,
            height=self.image.height,
            byte_size=len(self.image.data),
            weight=clamp_weight(weights.get(self.label, 1.0)),
            caption=self.source.caption,
            author=self.source.author,
            source=self.source.name,
        )


@dataclass(frozen=True)
class Gathered:
    images: tuple[GatheredImage, ...]
    warnings: tuple[str, ...]


def check_count(count: int, limit: int) -> None:
    if count > limit:
        raise TooManyImages(
            f"I found {count} images but can merge at most {limit} at once. "
            "Start from a later message, or remove some images, and try again."
        )


async def gather(sources: Sequence[ImageSource], fetcher: Fetcher, limits: Limits) -> Gathered:
    """Download and normalise ``sources`` in order; label the usable ones."""
    if not sources:
        raise NoImages(
            "I found no images to merge. Attach images to messages in the thread, then ask again."
        )
    check_count(len(sources), limits.max_images)
    gate = asyncio.Semaphore(PARALLEL_DOWNLOADS)

    async def load(source: ImageSource) -> Normalized | str:
        try:
            async with gate:
                data = await fetcher.fetch(source)
            return await run_image_work(
                normalize, data, source.name, max_side=REFERENCE_MAX_SIDE, max_pixels=limits.max_image_pixels
            )
        except (FetchError, ComposeError) as exc:
            log.info("skipping a reference: %s", exc)
            return str(exc)

    loaded = await asyncio.gather(*(load(source) for source in sources))
    images: list[GatheredImage] = []
    warnings: list[str] = []
    for source, result in zip(sources, loaded, strict=True):
        if isinstance(result, str):
            warnings.append(result)
        else:
            images.append(GatheredImage(sheet_label(len(images)), result, source))
    if not images:
        raise NoImages("None of the files could be used as an image:\n" + "\n".join(f"• {w}" for w in warnings))
    return Gathered(tuple(images), tuple(warnings))
