"""``mergebot health``: is a running bot alive? It says what it checked, not just an exit code."""

from __future__ import annotations

import time
from pathlib import Path

from .runner import HEARTBEAT_FILE, HEARTBEAT_STALE_S


def check_heartbeat(data_dir: Path, now: float | None = None) -> tuple[bool, str]:
    """``(healthy, what was checked and found)`` for the heartbeat ``mergebot run`` touches every 30 s."""
    path = data_dir / HEARTBEAT_FILE
    limit = f"stale after {HEARTBEAT_STALE_S:.0f} s"
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except FileNotFoundError:
        return False, (
            f"unhealthy: no heartbeat file {path}; is `mergebot run` running with MERGEBOT_DATA_DIR={data_dir}?"
        )
    except OSError as exc:
        return False, f"unhealthy: cannot read the heartbeat file {path} ({exc.strerror or exc})"
    if age < HEARTBEAT_STALE_S:
        return True, f"healthy: heartbeat file {path} was touched {max(age, 0):.0f} s ago ({limit})"
    return False, f"unhealthy: heartbeat file {path} is {age:.0f} s old ({limit}): the bot is stopped or stuck"
