"""Which letter belongs to which source, and which letters a prompt points at.

Letters never move under the person: a source gets its letter from its place in the
chat when it is found, and keeps it even when its file turns out unusable or is left
out (that letter then stays unused, and the reply says why). A caption that starts
with a label ("B: the cliffs") pins that letter to its message's images.

Before anything is sent to the model, ``named_labels`` reads the letters the prompt
names ("from A", "B's", "image C"), so a prompt pointing at a reference that is not
there stops the merge instead of spending money on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from compose import sheet_label

from .captions import display_caption, parse_caption
from .model import ImageSource

MAX_LETTER_INDEX = 26 * 27 - 1  # "ZZ", the longest label a control id carries


@dataclass(frozen=True)
class Labeled:
    """A source with its letter and the caption its panel shows."""

    label: str
    source: ImageSource
    caption: str


def label_index(label: str) -> int:
    """The inverse of ``sheet_label``: A -> 0, Z -> 25, AA -> 26."""
    number = 0
    for char in label:
        number = number * 26 + ord(char) - ord("A") + 1
    return number - 1


def _messages(sources: Sequence[ImageSource]) -> list[list[ImageSource]]:
    """Sources grouped by the message that carried them (consecutive, same ``message_id``)."""
    groups: list[list[ImageSource]] = []
    for source in sources:
        if groups and source.message_id and groups[-1][0].message_id == source.message_id:
            groups[-1].append(source)
        else:
            groups.append([source])
    return groups


def assign_labels(sources: Sequence[ImageSource]) -> tuple[tuple[Labeled, ...], tuple[str, ...]]:
    """Every picture with its letter, in the order found, and notes about the sources left without one.

    Files the platform declares are not pictures get no letter: people count the images they see.

    A source that already has a letter (``ImageSource.label``: the adapter labeled the whole
    conversation and sends a part of it) keeps it. Unpinned images take the next letter after
    the previous image's, skipping letters that a caption pinned anywhere; a pinned message's
    images take its letter and the ones after. When two messages pin the same letter the first
    keeps it.
    """
    notes = [f"Skipped {source.name}: not an image." for source in sources if source.declared_not_image]
    groups = _messages([source for source in sources if not source.declared_not_image])
    prefixes = [parse_caption(group[0].caption) for group in groups]
    given = {source.label for group in groups for source in group if source.label}
    pinned: dict[str, int] = {}
    for number, prefix in enumerate(prefixes):
        if prefix.label is not None and prefix.label not in given:
            pinned.setdefault(prefix.label, number)
    taken: set[int] = {label_index(label) for label in (*pinned, *given)}
    labeled: list[Labeled] = []
    cursor = 0
    for number, (group, prefix) in enumerate(zip(groups, prefixes, strict=True)):
        own_pin = prefix.label is not None and pinned.get(prefix.label) == number
        for position, source in enumerate(group):
            if source.label:
                index = label_index(source.label)
            elif own_pin and position == 0 and prefix.label is not None:
                index = label_index(prefix.label)
            else:
                index = cursor
                while index in taken:
                    index += 1
            taken.add(index)
            cursor = index + 1
            caption = display_caption(prefix.text, source.name, position + 1, len(group))
            labeled.append(Labeled(sheet_label(index), source, caption))
        if prefix.label is not None and not own_pin and not group[0].label:
            first = labeled[-len(group)].label
            notes.append(f"Two messages claim {prefix.label}: it stays with the first; {group[0].name} is {first}.")
    return tuple(labeled), tuple(notes)


def part_with_letters(sources: Sequence[ImageSource], keep: Callable[[ImageSource], bool]) -> tuple[ImageSource, ...]:
    """The sources ``keep`` picks from a whole conversation, each with the letter the whole
    conversation gives it ("Merge images from here" on the cliffs a thread calls B keeps B)."""
    letters = {id(item.source): item.label for item in assign_labels(sources)[0]}
    return tuple(replace(source, label=letters.get(id(source))) for source in sources if keep(source))


def span(labels: Sequence[str]) -> str:
    """ "A", "A and C", "A, C and D" (or "A to F" for a run of four or more)."""
    ordered = sorted(labels, key=lambda label: (len(label), label))
    indices = [label_index(label) for label in ordered]
    if len(ordered) >= 4 and indices == list(range(indices[0], indices[0] + len(indices))):
        return f"{ordered[0]} to {ordered[-1]}"
    if len(ordered) <= 2:
        return " and ".join(ordered)
    return ", ".join(ordered[:-1]) + " and " + ordered[-1]


# -- letters a prompt names ---------------------------------------------------------------------

# Words after which a lone capital letter is a reference: "from A", "of B", "like D", "A and B".
_CUES = frozenset(
    {
        *("from", "of", "like", "in", "with", "and", "or", "plus", "than", "as", "to", "into", "onto", "on"),
        *("behind", "using", "use", "between", "mix", "blend", "combine", "merge", "keep", "take"),
        *("image", "images", "img", "picture", "pictures", "pic", "photo", "photos", "panel", "panels"),
        *("reference", "references", "ref", "refs", "&", "+", "/", ","),
    }
)
# "I" is the pronoun unless a picture word comes right before it ("image I") or it is possessive.
_PICTURE_CUES = frozenset({"image", "img", "picture", "pic", "photo", "panel", "reference", "ref"})
_STANDALONE = re.compile(r"(?<![\w.'’-])(?P<letter>[A-Z])(?P<possessive>['’]s\b)?(?!\w|[.'’-]\w)")
_LAST_TOKEN = re.compile(r"([,&+/]|\w+)[^\w,&+/]*$")


def named_labels(prompt: str) -> tuple[str, ...]:
    """The single letters ``prompt`` names as references, in order, each once.

    "the cat from A riding the motorbike of C, in B's light" names A, C and B; the article
    in "A cat sits" and the pronoun in "like I said" name nothing.
    """
    named: list[str] = []
    for match in _STANDALONE.finditer(prompt):
        letter = match["letter"]
        if not match["possessive"]:
            before = _LAST_TOKEN.search(prompt[: match.start()].rstrip())
            cue = before[1].lower() if before else ""
            if cue not in (_PICTURE_CUES if letter == "I" else _CUES):
                continue
        if letter not in named:
            named.append(letter)
    return tuple(named)


def unusable_named(prompt: str, present: Iterable[str], missing: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``(letter, why)`` for each letter the prompt names that no reference will carry.

    ``missing`` says why a letter has no reference (skipped, left out); a letter that was
    never found gets the list of letters this merge does have.
    """
    have = sorted(set(present), key=label_index)
    problems = []
    for letter in named_labels(prompt):
        if letter in have:
            continue
        why = missing.get(letter)
        if why is None:
            why = f"there is no {letter} here (this merge has {span(have)})" if have else f"there is no {letter} here"
        problems.append((letter, why))
    return tuple(problems)


def missing_message(problems: Sequence[tuple[str, str]], usable: Sequence[str]) -> str:
    """The reply when the prompt points at letters without a reference: what, why, and what next."""
    if len(problems) == 1:
        letter, why = problems[0]
        head = f"Your prompt names {letter}, but {why}."
    else:
        head = "Your prompt names letters I have no image for:\n" + "\n".join(f"• {why}" for _, why in problems)
    anyway = f"Merge anyway to merge {span(usable)} as they are" if usable else "Merge anyway"
    return f"{head}\nNothing was sent to the image model. Press {anyway}, or Edit prompt to change the letters."


_SKIPPED_LINE = re.compile(r"^Skipped (?P<label>[A-Z]{1,2}) \((?P<name>.*)\): (?P<reason>.*)$")


def skipped_line(label: str, name: str, reason: str) -> str:
    """The reply's line for a source whose file could not be used (``missing_from`` reads it back)."""
    return f"Skipped {label} ({name}): {reason}"


def unusable_why(label: str, name: str, reason: str) -> str:
    return f"{label} ({name}) could not be used: {reason}"


def missing_from(warnings: Iterable[str]) -> dict[str, str]:
    """Why each skipped letter has no reference, read back from a stored job's warnings."""
    found: dict[str, str] = {}
    for line in warnings:
        match = _SKIPPED_LINE.match(line)
        if match is not None:
            found[match["label"]] = unusable_why(match["label"], match["name"], match["reason"])
    return found


def next_label(labels: Iterable[str]) -> str:
    """The letter after the last one in use (a result joining the references takes it)."""
    indices = [label_index(label) for label in labels]
    return sheet_label(max(indices) + 1 if indices else 0)
