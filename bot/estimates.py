"""How long a model's generations take lately, and the progress text that says so.

"Generating… 0:41 of about 1:10, preview 1 of 2": the elapsed time of this generation and the
median of the model's recent ones in this process (none yet after a start: then only the
elapsed time shows).
"""

from __future__ import annotations

from collections import deque

RECENT = 20


class RecentDurations:
    """The last ``RECENT`` generation times of each model."""

    def __init__(self) -> None:
        self._seconds: dict[str, deque[float]] = {}

    def add(self, model: str, seconds: float) -> None:
        self._seconds.setdefault(model, deque(maxlen=RECENT)).append(seconds)

    def estimate(self, model: str) -> float | None:
        """The median of the model's recent generation times, or None before the first one."""
        recent = self._seconds.get(model)
        if not recent:
            return None
        import statistics  # the first estimate needs it, not the start-up

        return statistics.median(recent)


def clock(seconds: float) -> str:
    """0:41, 1:10, 12:03."""
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def generating_text(elapsed_s: float, estimate_s: float | None, preview: int | None = None, previews: int = 0) -> str:
    """The status line while the model works; ``preview`` counts from 1."""
    text = f"Generating… {clock(elapsed_s)}"
    if estimate_s is not None:
        text += f" of about {clock(max(estimate_s, elapsed_s))}"
    if preview is not None:
        text += f", preview {preview} of {max(preview, previews)}"
    return text
