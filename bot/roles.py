"""Roles and strengths as people write them: ``A=subject C=style:high B=off``.

One short syntax for every place people set them (Discord's ``roles:`` option and Roles…
form, Slack's modal, the CLI's ``--role``/``--strength``): whitespace- or comma-separated
``LABEL=WORD[:WORD]`` items, where each word is a role (subject, style, scene, object, none,
off) or a strength (low, medium, high, max). ``reset`` alone makes every reference plain again.
Mistakes raise ``InputError`` with a message that shows the right way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from .choices import ROLE_WORDS as ROLE_WORDS
from .choices import STRENGTH_WORDS as STRENGTH_WORDS
from .errors import InputError
from .model import STRENGTH_WEIGHTS, MergeRequest, Reference, Role, Strength

RESET = "reset"
EXAMPLE = "A=subject C=style:high B=off"
SYNTAX_HELP = (
    f"Write roles as LABEL=ROLE, optionally with :STRENGTH, for example `{EXAMPLE}`. "
    f"Roles: {', '.join(ROLE_WORDS)}. Strengths: {', '.join(STRENGTH_WORDS)}. "
    f"`{RESET}` makes every reference plain again."
)
_ITEM = re.compile(r"(?P<label>[A-Za-z]{1,2})\s*=\s*(?P<words>[A-Za-z]+(?:[:/][A-Za-z]+)?)")
_SEPARATORS = re.compile(r"[\s,;]+")
_CLIP = 40


@dataclass(frozen=True)
class Assignment:
    """What one label was given: a role, a strength, or both."""

    role: Role | None = None
    strength: Strength | None = None


@dataclass(frozen=True)
class Assignments:
    """A parsed roles text: per-label assignments, or a reset of every reference."""

    by_label: Mapping[str, Assignment]
    reset: bool = False

    @property
    def empty(self) -> bool:
        return not self.by_label and not self.reset


NO_ASSIGNMENTS = Assignments({})


def _clipped(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _CLIP else text[: _CLIP - 1] + "…"


def parse_assignments(text: str) -> Assignments:
    """``text`` as assignments; ``InputError`` naming the first item that is not understood."""
    items = [item for item in _SEPARATORS.split(_spaced_equals(text.strip())) if item]
    if [item.lower() for item in items] == [RESET]:
        return Assignments({}, reset=True)
    by_label: dict[str, Assignment] = {}
    for item in items:
        match = _ITEM.fullmatch(item)
        if match is None:
            raise InputError(f"I can't read “{_clipped(item)}” as a role. {SYNTAX_HELP}")
        label = match["label"].upper()
        current = by_label.get(label, Assignment())
        for word in re.split(r"[:/]", match["words"].lower()):
            current = _with_word(current, label, word)
        by_label[label] = current
    return Assignments(by_label)


def _spaced_equals(text: str) -> str:
    """``A = style`` as ``A=style``, so spaces around ``=`` do not split an item."""
    return re.sub(r"\s*=\s*", "=", text)


def _with_word(current: Assignment, label: str, word: str) -> Assignment:
    if word in ROLE_WORDS:
        return replace(current, role=Role(word))
    if word in STRENGTH_WORDS:
        return replace(current, strength=Strength(word))
    raise InputError(f"“{_clipped(word)}” for {label} is neither a role nor a strength. {SYNTAX_HELP}")


def merge_assignments(parts: Iterable[Assignments]) -> Assignments:
    """Several parsed texts (the CLI's repeated flags) as one; later items win per field."""
    by_label: dict[str, Assignment] = {}
    reset = False
    for part in parts:
        reset = reset or part.reset
        for label, given in part.by_label.items():
            current = by_label.get(label, Assignment())
            by_label[label] = Assignment(given.role or current.role, given.strength or current.strength)
    return Assignments(by_label, reset=reset)


def check_labels(assignments: Assignments, labels: Sequence[str]) -> None:
    """``InputError`` when ``assignments`` names a label that is not among ``labels``."""
    unknown = [label for label in assignments.by_label if label not in labels]
    if unknown:
        have = ", ".join(labels) if labels else "none"
        raise InputError(
            f"There is no reference {', '.join(unknown)} in this merge (it has {have}). "
            "Pick labels from the reference sheet."
        )


def apply_assignments(references: Sequence[Reference], assignments: Assignments) -> tuple[Reference, ...]:
    """``references`` with ``assignments`` applied; a reset first makes every one plain at medium."""
    check_labels(assignments, [ref.label for ref in references])
    result: list[Reference] = []
    for ref in references:
        if assignments.reset:
            ref = replace(ref, role=Role.NONE, weight=STRENGTH_WEIGHTS[Strength.MEDIUM])
        given = assignments.by_label.get(ref.label)
        if given is not None:
            if given.role is not None:
                ref = replace(ref, role=given.role)
            if given.strength is not None:
                ref = replace(ref, weight=STRENGTH_WEIGHTS[given.strength])
        result.append(ref)
    if not any(ref.included for ref in result):
        raise InputError("Every reference would be off: keep at least one of them in the merge.")
    return tuple(result)


def describe_assignments(references: Sequence[Reference]) -> str:
    """The roles text that gives ``references`` their current roles and strengths, for pre-filled forms."""
    return " ".join(f"{ref.label}={ref.role.value}:{ref.strength.value}" for ref in references)


def role_tag(reference: Reference) -> str:
    """How people see a reference's role and strength: "subject", "style · high", "" when plain at medium."""
    parts = [] if reference.role is Role.NONE else [reference.role.value]
    if reference.strength is not Strength.MEDIUM:
        parts.append(reference.strength.value)
    return " · ".join(parts)


def request_maps(assignments: Assignments) -> tuple[dict[str, Role], dict[str, float]]:
    """``assignments`` as a new merge request's ``roles`` and ``weights`` (label -> value)."""
    roles = {label: given.role for label, given in assignments.by_label.items() if given.role is not None}
    weights = {
        label: STRENGTH_WEIGHTS[given.strength]
        for label, given in assignments.by_label.items()
        if given.strength is not None
    }
    return roles, weights


def check_request_labels(request: MergeRequest, references: Sequence[Reference]) -> None:
    """``InputError`` when a new merge's roles or strengths name a label it did not gather."""
    labels = [ref.label for ref in references]
    named = {**request.weights, **request.roles}
    check_labels(Assignments({label: Assignment() for label in named}), labels)
