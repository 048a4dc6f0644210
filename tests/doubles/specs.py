"""Where the pinned official API descriptions live: ``../shared/specs`` beside the checkout.

``MERGEBOT_SPECS_DIR`` overrides it. A missing spec fails loudly: the doubles must
never quietly stop validating what the bot sends.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SPECS_DIR = Path(os.environ.get("MERGEBOT_SPECS_DIR") or ROOT.parent / "shared" / "specs")


def spec_path(name: str) -> Path:
    path = SPECS_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the doubles validate against the pinned specs in ../shared/specs "
            "(or set MERGEBOT_SPECS_DIR)"
        )
    return path
