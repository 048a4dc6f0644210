"""The one error ``compose`` raises for input a person supplied.

``str(error)`` is ``"<name>: <reason>"``, readable in a chat: the bot shows it as is
(``bot/`` maps it onto its own ``ImageRejected``). Programming mistakes (an empty
list, a duplicate label) raise ``ValueError`` instead.

    ComposeError          a file or request compose cannot serve
    └── DecodeTooSlow     decoding it would take (or took) longer than allowed

Both survive pickling, so a decode in another process reports the same error.
"""

from __future__ import annotations

TOO_SLOW = "this file takes too long to decode"


class ComposeError(Exception):
    """A file or request ``compose`` cannot serve; ``name`` says which file, ``reason`` why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason

    def __reduce__(self) -> tuple[type[ComposeError], tuple[str, str]]:
        return type(self), (self.name, self.reason)


class DecodeTooSlow(ComposeError):
    """Decoding the file would take too long: refused from its header, or stopped at the time budget."""

    def __init__(self, name: str, detail: str = "") -> None:
        super().__init__(name, f"{TOO_SLOW} ({detail})" if detail else TOO_SLOW)
        self.detail = detail

    def __reduce__(self) -> tuple[type[DecodeTooSlow], tuple[str, str]]:
        return DecodeTooSlow, (self.name, self.detail)


class MarkedCopyMismatch(ComposeError):
    """A marked-up copy that is not a copy of the result: another shape, or another picture."""


class NoMarksFound(ComposeError):
    """A marked-up copy identical to the result: nothing was drawn on it, or too faintly."""
