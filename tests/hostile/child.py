"""Decode one file in a fresh process and print what it cost, as JSON.

    python -m tests.hostile.child FILE

Peak memory is the process's high-water mark (VmHWM) minus its resident size just
before the decode, with the file already read and Pillow's plugins imported: what
the decode itself added, untouched by the test process's own memory.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def resident_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def main(path: str) -> None:
    from PIL import Image

    from compose import ComposeError, normalize
    from compose.decode import _register_heif

    Image.init()
    _register_heif()
    data = Path(path).read_bytes()
    resting = resident_mb("VmRSS")
    started = time.perf_counter()
    outcome: dict[str, object]
    try:
        picture = normalize(data, Path(path).name, max_side=1536)
        outcome = {"size": [picture.width, picture.height]}
    except ComposeError as error:
        outcome = {"error": str(error), "kind": type(error).__name__}
    outcome["seconds"] = time.perf_counter() - started
    outcome["peak_mb"] = resident_mb("VmHWM") - resting
    print(json.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv[1])
