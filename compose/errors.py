"""The one error ``compose`` raises for input a person supplied.

``str(error)`` is ``"<name>: <reason>"``, readable in a chat: the bot shows it as is
(``bot/`` maps it onto its own ``ImageRejected``). Programming mistakes (an empty
list, a duplicate label) raise ``ValueError`` instead.
"""

from __future__ import annotations


class ComposeError(Exception):
    """A file or request ``compose`` cannot serve; ``name`` says which file, ``reason`` why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
