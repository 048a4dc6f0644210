"""Build docs/sheet-roles.jpg, the README picture of roles, through the bot's own planning path.

Run from the repository root: ``python -m benchmarks.make_roles_example`` (needs the ``bench`` extra,
scikit-image). The references get roles and strengths as a person would set them
(``A=subject:high B=scene C=style D=object:low``); ``bot.plan.prepare`` builds the sheet people see
and the request the model would get, and this prints that request's legend and files.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import skimage.data

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.model import STRENGTH_WEIGHTS, MergeOptions, Mode, Reference, Role, Strength
from bot.plan import prepare
from compose import normalize, sheet_label

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "sheet-roles.jpg"
# (file in skimage/data, role, strength, caption as it would come from the chat message)
PHOTOS = (
    ("astronaut.png", Role.SUBJECT, Strength.HIGH, "the character"),
    ("rocket.jpg", Role.SCENE, Strength.MEDIUM, "launch pad at dusk"),
    ("hubble_deep_field.jpg", Role.STYLE, Strength.MEDIUM, "colours like this"),
    ("coffee.png", Role.OBJECT, Strength.LOW, "her cup"),
)
PROMPT = "the astronaut from A drinking from the cup in D at the launch pad of B, painted like C"


async def build(size: str = "1536x1024") -> bytes:
    """Prepare the example merge without calling the API; return the sheet's JPEG bytes."""
    folder = Path(skimage.data.__file__).parent
    references, images = [], {}
    for index, (file, role, strength, caption) in enumerate(PHOTOS):
        image = normalize((folder / file).read_bytes(), file, max_side=1536)
        digest = hashlib.sha256(image.data).hexdigest()
        images[digest] = image.data
        references.append(
            Reference(
                label=sheet_label(index),
                digest=digest,
                width=image.width,
                height=image.height,
                byte_size=len(image.data),
                weight=STRENGTH_WEIGHTS[strength],
                caption=caption,
                source=file,
                role=role,
            )
        )
    options = MergeOptions(prompt=PROMPT, mode=Mode.AUTO, size=size)
    prepared = await prepare(options, tuple(references), images, 2048)
    print(f"mode {prepared.choice.summary()}; files {[f.name for f in prepared.files]}")
    print(prepared.prompt)
    return prepared.sheet.data


def main() -> int:
    data = asyncio.run(build())
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(data)
    print(f"wrote {OUTPUT} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
