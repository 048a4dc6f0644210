"""Variations: several pictures from one call, and what Pick and Vary make of them.

A merge whose options ask for ``n`` > 1 gets ``n`` results from one ``images.edit`` call; the
chat shows them as one numbered grid (``compose.grid``). **Pick N** makes a job that holds
variation N alone (its stored blob, no call, no cost) so it carries every usual control;
**Vary N** is a child merge of the same references and prompt with variation N added as a
reference sent first (``MergeOptions.lead``).
"""

from __future__ import annotations

import time
from dataclasses import replace

from .errors import InputError
from .model import Job, JobStatus, Origin, Reference

VARIATION_CAPTION = "variation {number} of merge {job}: make a new take on this picture"


def variation_number(job: Job, arg: str | None) -> int:
    """The variation (from 1) a Pick or Vary names, checked against the job's results."""
    count = len(job.result_digests)
    if job.status is not JobStatus.SUCCEEDED or count < 2:
        raise InputError("That merge has no variations to choose from.")
    if arg is None or not arg.isdigit() or not 1 <= int(arg) <= count:
        raise InputError(f"That merge has variations 1 to {count}.")
    return int(arg)


def picked(parent: Job, number: int, job_id: str, origin: Origin) -> Job:
    """The job of Pick ``number``: the parent's references, prompt and sheet, and the stored
    picture of that variation as its one result. Nothing was generated, so nothing is charged."""
    now = time.time()
    return Job(
        id=job_id,
        origin=origin,
        options=replace(parent.options, n=1),
        references=parent.references,
        status=JobStatus.SUCCEEDED,
        parent_id=parent.id,
        action=f"pick:{number}",
        sheet_digest=parent.sheet_digest,
        sheet_boxes=parent.sheet_boxes,
        result_digests=(parent.result_digests[number - 1],),
        cost_usd=0.0,
        warnings=parent.warnings,
        created_at=now,
        finished_at=now,
    )


def with_variation_first(parent: Job, variation: Reference) -> tuple[tuple[Reference, ...], str]:
    """The references of Vary: the parent's, less the picture an earlier Vary led with (a
    vary of a vary starts from the newest picture only), and ``variation``; and its label,
    the one sent first."""
    kept = tuple(ref for ref in parent.references if ref.label != parent.options.lead)
    return (*kept, variation), variation.label
