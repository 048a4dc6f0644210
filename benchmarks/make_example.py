"""Build docs/sheet-example.jpg, the README picture, from photos scikit-image ships in its wheel.

Run from the repository root: ``python -m benchmarks.make_example`` (needs the ``bench`` extra, scikit-image).

A hard mix, as people's threads are: a 4:1 panorama, a 1:3 portrait strip, ordinary photos, one
reference weighted 2 and a 32-px icon, on a sheet whose aspect is free (the output size on ``auto``).
The panorama and the strip are cut from the shipped photos; every file goes through the same decode
path as uploads.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import skimage.data
from PIL import Image

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compose import SheetInput, compose_sheet, sheet_label
from compose.layout import reads_in_order

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "sheet-example.jpg"
FOLDER = Path(skimage.data.__file__).parent


def _cut(file: str, box: tuple[int, int, int, int], size: tuple[int, int] | None = None) -> bytes:
    with Image.open(FOLDER / file) as image:
        picture = image.convert("RGB").crop(box)
    if size is not None:
        picture = picture.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _file(file: str) -> bytes:
    return (FOLDER / file).read_bytes()


# (bytes, weight, caption as it would come from the chat message, file name)
def photos() -> list[tuple[bytes, float, str, str]]:
    return [
        (_file("astronaut.png"), 2.0, "ana: the character, suit and all", "astronaut.png"),
        (_cut("hubble_deep_field.jpg", (0, 300, 872, 518)), 1.0, "ben: this sky as a wide band", "sky.png"),
        (_cut("rocket.jpg", (236, 0, 378, 427)), 1.0, "cy: the tower", "tower.png"),
        (_file("coffee.png"), 1.0, "ana: this cup, on the table", "coffee.png"),
        (_file("chelsea.png"), 1.0, "ben: add the cat ★ on her lap", "chelsea.png"),
        (_cut("logo.png", (0, 0, 500, 500), (32, 32)), 1.0, "cy: our logo", "logo.png"),
        (_file("motorcycle_left.png"), 1.0, "星空 — bike.png", "bike.png"),
    ]


def build(size: tuple[int, int] = (2048, 2048)) -> bytes:
    """Compose the example sheet and return its JPEG bytes."""
    refs = [
        SheetInput(data, sheet_label(index), weight=weight, caption=caption, name=name)
        for index, (data, weight, caption, name) in enumerate(photos())
    ]
    sheet = compose_sheet(refs, size=size, fmt="jpeg", fit_aspect=True)
    print(f"{len(refs)} pictures on {sheet.size[0]}x{sheet.size[1]}, fill {sheet.fill_ratio:.2f}, small: {sheet.small}")
    print(f"  labels read in order: {reads_in_order([sheet.boxes[ref.label] for ref in refs])}")
    for label, box in sheet.boxes.items():
        print(f"  {label}: {box.width}x{box.height} at ({box.x0}, {box.y0})")
    return sheet.data


def main() -> int:
    data = build()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
