"""How a job is laid out in rows: the column lists and conversions every SQL driver shares.

A job is one ``jobs`` row (options, boxes, usage and the like as JSON text, so
every engine stores them alike), one ``job_references`` row per reference and
one ``job_messages`` row per platform message. The SQL drivers
(``bot.sqlite_store``, ``bot.postgres_store``) differ in connections, locking
and dialect; what a row holds is decided here once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

from .model import Job, JobStatus, MergeOptions, Mode, Origin, Reference, Refinement, Role, Usage

JOB_COLUMNS = (
    "id",
    "platform",
    "workspace_id",
    "channel_id",
    "user_id",
    "thread_id",
    "user_name",
    "options",
    "status",
    "parent_id",
    "action",
    "sheet_digest",
    "sheet_boxes",
    "result_digests",
    "usage",
    "cost_usd",
    "error",
    "warnings",
    "created_at",
    "finished_at",
    "timings",
)
SELECT_JOBS = f"SELECT {', '.join('j.' + c for c in JOB_COLUMNS)} FROM jobs AS j"
# A delete is never undone: a copy of the job saved by a run or a gathering that began before it
# keeps the job deleted (the rest of what it carries is still saved).
_KEEP_DELETED = f"CASE WHEN jobs.status = '{JobStatus.DELETED.value}' THEN jobs.status ELSE excluded.status END"
UPSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join('?' for _ in JOB_COLUMNS)}) "
    "ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"status = {_KEEP_DELETED}" if c == "status" else f"{c} = excluded.{c}" for c in JOB_COLUMNS[1:])
)
REFERENCE_COLUMNS = (
    "job_id",
    "position",
    "label",
    "digest",
    "width",
    "height",
    "byte_size",
    "weight",
    "caption",
    "author",
    "source",
    "role",
)
INSERT_REFERENCE = (
    f"INSERT INTO job_references ({', '.join(REFERENCE_COLUMNS)}) VALUES ({', '.join('?' for _ in REFERENCE_COLUMNS)})"
)


# What the jobs matching a WHERE clause appended to this cost the budget: the settled cost,
# else the reservation; nothing once released.
CHARGED_USD = (
    "COALESCE(SUM(CASE WHEN released = 0 THEN COALESCE(cost_usd, reserved_usd, 0.0) ELSE 0.0 END), 0.0) FROM jobs"
)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def counted_images(n_of_options: str) -> tuple[str, str]:
    """What a job counts against its person's daily limit: the pictures it asks for (each
    variation is a merge; ``n_of_options`` is the dialect's expression for ``options.n``), and a
    released job nothing. The sum over jobs not released (put ``released = 0`` in the WHERE),
    and the sum that skips released ones by itself."""
    images = f"COALESCE({n_of_options}, 1)"
    return f"COALESCE(SUM({images}), 0)", f"COALESCE(SUM(CASE WHEN released = 0 THEN {images} END), 0)"


def _options_json(options: MergeOptions) -> str:
    fields = dataclasses.asdict(options)
    fields["mode"] = options.mode.value
    return _dumps(fields)


def _options(text: str) -> MergeOptions:
    raw: dict[str, Any] = json.loads(text)
    known = {f.name for f in dataclasses.fields(MergeOptions)}
    values = {k: v for k, v in raw.items() if k in known}
    values["mode"] = Mode(values.get("mode", Mode.COLLAGE.value))
    refine = values.get("refine")
    values["refine"] = None if refine is None else Refinement(base=refine["base"], mask=refine.get("mask"))
    return MergeOptions(**values)


def storable(row: tuple[object, ...]) -> tuple[object, ...]:
    """``row`` with its text made valid UTF-8 without NUL, the same on every engine.

    PostgreSQL's text type holds neither NUL nor a lone surrogate (which a JSON
    payload's ``\\ud800`` escape can put in a Python string); both become U+FFFD.
    """
    return tuple(_storable_text(value) if isinstance(value, str) else value for value in row)


def _storable_text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "\ufffd")


def job_row(job: Job) -> tuple[object, ...]:
    origin = job.origin
    return storable(
        (
            job.id,
            origin.platform,
            origin.workspace_id,
            origin.channel_id,
            origin.user_id,
            origin.thread_id,
            origin.user_name,
            _options_json(job.options),
            JobStatus(job.status).value,
            job.parent_id,
            job.action,
            job.sheet_digest,
            _dumps({label: list(box) for label, box in job.sheet_boxes.items()}),
            _dumps(list(job.result_digests)),
            None if job.usage is None else _dumps(dataclasses.asdict(job.usage)),
            job.cost_usd,
            job.error,
            _dumps(list(job.warnings)),
            job.created_at,
            job.finished_at,
            _dumps(dict(job.timings)),
        )
    )


def reference_row(job_id: str, position: int, ref: Reference) -> tuple[object, ...]:
    return storable(
        (
            job_id,
            position,
            ref.label,
            ref.digest,
            ref.width,
            ref.height,
            ref.byte_size,
            ref.weight,
            ref.caption,
            ref.author,
            ref.source,
            Role(ref.role).value,
        )
    )


def reference_from_row(row: Sequence[Any]) -> Reference:
    return Reference(
        label=row[2],
        digest=row[3],
        width=int(row[4]),
        height=int(row[5]),
        byte_size=int(row[6]),
        weight=float(row[7]),
        caption=row[8],
        author=row[9],
        source=row[10],
        role=Role(row[11]),
    )


def _usage(text: str | None) -> Usage | None:
    if text is None:
        return None
    raw: dict[str, Any] = json.loads(text)
    known = {f.name for f in dataclasses.fields(Usage)}
    return Usage(**{k: int(v) for k, v in raw.items() if k in known})


def _box(values: Sequence[int]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = values
    return (x0, y0, x1, y1)


def job_from_row(row: Sequence[Any], references: list[Reference], messages: Mapping[str, str]) -> Job:
    col = dict(zip(JOB_COLUMNS, row, strict=True))
    boxes: dict[str, list[int]] = json.loads(col["sheet_boxes"])
    return Job(
        id=col["id"],
        origin=Origin(
            platform=col["platform"],
            workspace_id=col["workspace_id"],
            channel_id=col["channel_id"],
            user_id=col["user_id"],
            thread_id=col["thread_id"],
            user_name=col["user_name"],
        ),
        options=_options(col["options"]),
        references=tuple(references),
        status=JobStatus(col["status"]),
        parent_id=col["parent_id"],
        action=col["action"],
        sheet_digest=col["sheet_digest"],
        sheet_boxes={label: _box(box) for label, box in boxes.items()},
        result_digests=tuple(json.loads(col["result_digests"])),
        usage=_usage(col["usage"]),
        cost_usd=col["cost_usd"],
        error=col["error"],
        warnings=tuple(json.loads(col["warnings"])),
        created_at=col["created_at"],
        finished_at=col["finished_at"],
        timings=json.loads(col["timings"]),
        messages=dict(messages),
    )
