"""Build docs/sheet-example.jpg, the README picture, from photos scikit-image ships in its wheel.

Run from the repository root: ``python -m benchmarks.make_example`` (needs the ``bench`` extra, scikit-image).
The photos are read as the PNG/JPEG files they are, so the sheet goes through the same decode path as uploads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import skimage.data

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compose import SheetInput, compose_sheet, sheet_label

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "sheet-example.jpg"
# (file in skimage/data, weight, caption as it would come from the chat message)
PHOTOS = (
    ("astronaut.png", 2.0, "the character: Eileen Collins, suit and all"),
    ("coffee.png", 1.0, "this cup, on the table"),
    ("chelsea.png", 1.5, "add the cat ★ on her lap"),
    ("rocket.jpg", 1.0, "launch in the background, dusk light"),
    ("motorcycle_left.png", 0.5, "bike.png"),
    ("hubble_deep_field.jpg", 1.0, "星空 — sky like this"),
)


def build(size: tuple[int, int] = (1536, 1024)) -> bytes:
    """Compose the example sheet and return its JPEG bytes."""
    folder = Path(skimage.data.__file__).parent
    refs = [
        SheetInput((folder / file).read_bytes(), sheet_label(index), weight=weight, caption=caption, name=file)
        for index, (file, weight, caption) in enumerate(PHOTOS)
    ]
    sheet = compose_sheet(refs, size=size, fmt="jpeg")
    print(f"{len(refs)} photos, weights {[ref.weight for ref in refs]}, fill ratio {sheet.fill_ratio:.2f}")
    for label, box in sheet.boxes.items():
        print(f"  {label}: {box.width}x{box.height} = {box.area} px")
    return sheet.data


def main() -> int:
    data = build()
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
