"""Turns to gather: how many new merges of this process download and check their files at once.

A burst of mentions would otherwise start every merge's gathering together (downloads,
header checks, blob writes), all of them ahead of the merges that already hold a slot, and
keep the event loop so busy that the platform's next event waits: Slack wants its
acknowledgement within 3 s. Gathering takes a turn (``GatherTurns``) instead; a merge gathers
in well under a second, and merges wait for their slot long after that, so the line ahead
of the slots stays full while the loop stays responsive.

A freed turn goes to the person waiting who is gathering the fewest merges (the longest
wait among them), so one person's ten merges never hold up everyone else's.
"""

from __future__ import annotations

from .imagework import FairSlots

GATHERING_AT_ONCE = 4  # merges gathering at once in one process (each fetches up to 4 files at once)


class GatherTurns(FairSlots):
    """At most ``at_once`` merges gathering at once; ``wait`` for a turn, ``leave`` when done."""

    def __init__(self, at_once: int = GATHERING_AT_ONCE) -> None:
        super().__init__(at_once)

    wait = FairSlots.acquire
    leave = FairSlots.release
