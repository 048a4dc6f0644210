"""Pure image work for mergebot: layout, decoding, the labeled reference sheet, encoding.

Sync, deterministic, Pillow only; nothing here knows about chat, jobs or OpenAI.

    sheet = compose_sheet([SheetInput(data, "A"), SheetInput(other, "B", weight=2)], size=(1536, 1024))
    sheet.data, sheet.boxes["B"], sheet.fill_ratio

Every problem a person caused (a file that is not an image, truncated, too large)
raises ``ComposeError`` whose text names the file.

Names are loaded on first use, so ``import compose.layout`` (pure geometry, what the
bot's model needs at start-up) does not import Pillow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from compose.decode import ImageInfo, probe
    from compose.encode import fit_to_bytes
    from compose.errors import ComposeError, MarkedCopyMismatch, NoMarksFound
    from compose.grid import Grid, compose_grid
    from compose.layout import Arrangement, Box, Item, arrange, sheet_label
    from compose.marks import MarkedRegion, edit_mask_png, find_marked_region, markup_png, outline, region_from_mask
    from compose.reference import Normalized, normalize, received
    from compose.render import Sheet, SheetInput, compose_sheet

_HOMES = {
    "Arrangement": "layout",
    "Box": "layout",
    "ComposeError": "errors",
    "Grid": "grid",
    "compose_grid": "grid",
    "ImageInfo": "decode",
    "MarkedCopyMismatch": "errors",
    "MarkedRegion": "marks",
    "NoMarksFound": "errors",
    "edit_mask_png": "marks",
    "find_marked_region": "marks",
    "markup_png": "marks",
    "outline": "marks",
    "region_from_mask": "marks",
    "Item": "layout",
    "Normalized": "reference",
    "Sheet": "render",
    "SheetInput": "render",
    "arrange": "layout",
    "compose_sheet": "render",
    "fit_to_bytes": "encode",
    "normalize": "reference",
    "probe": "decode",
    "received": "reference",
    "sheet_label": "layout",
}

__all__ = [
    "Arrangement",
    "Box",
    "ComposeError",
    "Grid",
    "ImageInfo",
    "Item",
    "MarkedCopyMismatch",
    "MarkedRegion",
    "NoMarksFound",
    "Normalized",
    "Sheet",
    "SheetInput",
    "arrange",
    "compose_grid",
    "compose_sheet",
    "edit_mask_png",
    "find_marked_region",
    "fit_to_bytes",
    "markup_png",
    "normalize",
    "outline",
    "probe",
    "received",
    "region_from_mask",
    "sheet_label",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'compose' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"compose.{home}"), name)
    globals()[name] = value
    return value
