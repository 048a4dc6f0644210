"""Pure image work for mergebot: layout, decoding, the labeled reference sheet, encoding.

Sync, deterministic, Pillow only; nothing here knows about chat, jobs or OpenAI.

    sheet = compose_sheet([SheetInput(data, "A"), SheetInput(other, "B", weight=2)], size=(1536, 1024))
    sheet.data, sheet.boxes["B"], sheet.fill_ratio

Every problem a person caused (a file that is not an image, truncated, too large)
raises ``ComposeError`` whose text names the file.
"""

from compose.decode import ImageInfo, probe
from compose.encode import fit_to_bytes
from compose.errors import ComposeError, MarkedCopyMismatch, NoMarksFound
from compose.layout import Arrangement, Box, Item, arrange, sheet_label
from compose.marks import MarkedRegion, edit_mask_png, find_marked_region
from compose.normalize import Normalized, normalize
from compose.render import Sheet, SheetInput, compose_sheet

__all__ = [
    "Arrangement",
    "Box",
    "ComposeError",
    "ImageInfo",
    "Item",
    "MarkedCopyMismatch",
    "MarkedRegion",
    "NoMarksFound",
    "Normalized",
    "Sheet",
    "SheetInput",
    "arrange",
    "compose_sheet",
    "edit_mask_png",
    "find_marked_region",
    "fit_to_bytes",
    "normalize",
    "probe",
    "sheet_label",
]
