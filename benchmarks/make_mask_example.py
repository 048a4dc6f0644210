"""Build docs/mask-example.jpg, the README picture of a region edit, through the bot's own code.

Run from the repository root: ``python -m benchmarks.make_mask_example`` (needs the ``bench`` extra,
scikit-image). A person draws a loop on a copy of a result (scikit-image's cat photo, at 1024 px) and
the chat shrinks it to half and re-encodes it as JPEG; ``bot.refine.marked_mask`` (what a Refine with a
marked copy runs) finds the region and makes the ``mask`` images.edit gets. The picture shows, left to
right: the copy as posted, the mask (black is where the edit may happen, fully transparent in the PNG),
and the result with the region outlined, as the status message shows it before generating.
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path

import skimage.data
from PIL import Image, ImageDraw

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.fetch import Fetcher
from bot.model import ImageSource
from bot.refine import marked_mask
from bot.settings import Settings
from compose import outline, region_from_mask

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "mask-example.jpg"
PANEL_HEIGHT = 360
GAP = 12


def result_and_marked() -> tuple[bytes, bytes]:
    """The "result" (a PNG) and a marked copy of it: a loop around the cat's head, halved, JPEG 80."""
    cat = Image.open(Path(skimage.data.__file__).parent / "chelsea.png").convert("RGB")
    cat = cat.resize((1024, round(1024 * cat.height / cat.width)), Image.Resampling.LANCZOS)
    result = io.BytesIO()
    cat.save(result, "PNG")
    marked = cat.copy()
    ImageDraw.Draw(marked).ellipse((330, 60, 720, 420), outline=(255, 0, 200), width=7)
    posted = io.BytesIO()
    marked.resize((cat.width // 2, cat.height // 2), Image.Resampling.LANCZOS).save(posted, "JPEG", quality=80)
    return result.getvalue(), posted.getvalue()


async def build() -> bytes:
    result, marked = result_and_marked()
    settings = Settings.from_env({})
    fetcher = Fetcher(settings)
    try:
        mask = await marked_mask(result, ImageSource("marked.jpg", data=marked), fetcher, settings.limits, owner="doc")
    finally:
        await fetcher.aclose()
    region = region_from_mask(mask)
    shown_mask = Image.open(io.BytesIO(mask)).getchannel("A").convert("RGB")
    panels = [Image.open(io.BytesIO(data)).convert("RGB") for data in (marked, outline(result, region))]
    panels.insert(1, shown_mask)
    scaled = [p.resize((round(p.width * PANEL_HEIGHT / p.height), PANEL_HEIGHT)) for p in panels]
    sheet = Image.new("RGB", (sum(p.width for p in scaled) + GAP * (len(scaled) - 1), PANEL_HEIGHT), "white")
    x = 0
    for panel in scaled:
        sheet.paste(panel, (x, 0))
        x += panel.width + GAP
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=85)
    print(f"mask {region.mask.size[0]}x{region.mask.size[1]}, {len(mask)} bytes, {region.fraction:.1%} editable")
    return out.getvalue()


def main() -> None:
    OUTPUT.write_bytes(asyncio.run(build()))
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
