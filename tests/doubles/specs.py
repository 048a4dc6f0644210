"""Where the pinned official API descriptions live: ``tests/specs`` in this repository.

``MERGEBOT_SPECS_DIR`` overrides it (to compare against a newer copy). A missing spec fails
loudly: the doubles must never quietly stop validating what the bot sends.
"""

from __future__ import annotations

import os
from pathlib import Path

SPECS_DIR = Path(os.environ.get("MERGEBOT_SPECS_DIR") or Path(__file__).resolve().parents[1] / "specs")


def spec_path(name: str) -> Path:
    path = SPECS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the doubles validate against the pinned specs in tests/specs "
            "(see tests/specs/README.md; MERGEBOT_SPECS_DIR points elsewhere)"
        )
    return path
