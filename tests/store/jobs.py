"""Job builders and Hypothesis strategies for the store tests."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from bot.model import Job, JobStatus, MergeOptions, Mode, Origin, Reference, Role, Usage


def digest(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def origin(
    platform: str = "discord", workspace: str = "guild-1", channel: str = "chan-1", user: str = "user-1"
) -> Origin:
    return Origin(platform=platform, workspace_id=workspace, channel_id=channel, user_id=user)


def simple_job(job_id: str, created_at: float = 1_000.0, **changes: Any) -> Job:
    job = Job(
        id=job_id,
        origin=origin(),
        options=MergeOptions(prompt="merge them"),
        references=(Reference(label="A", digest=digest(job_id + "A"), width=64, height=48, byte_size=999),),
        created_at=created_at,
    )
    return replace(job, **changes)


def rich_job(job_id: str = "rich0001") -> Job:
    """A job with every field set to something other than its default."""
    return Job(
        id=job_id,
        origin=Origin(
            platform="slack",
            workspace_id="T0123",
            channel_id="C0456",
            user_id="U0789",
            thread_id="1700000000.000100",
            user_name="Zoë «the tester»",
        ),
        options=MergeOptions(
            prompt="The cat from A in the room from B,\nlit like C. 🐈 Quotes: \"'` and\ttabs",
            mode=Mode.SEPARATE,
            model="gpt-image-1.5",
            size="1536x1024",
            quality="high",
            background="opaque",
            output_format="webp",
            n=2,
            input_fidelity="high",
        ),
        references=(
            Reference("A", digest("a"), 1024, 768, 123_456, 1.0, "the cat", "ann", "cat.png", Role.SUBJECT),
            Reference("B", digest("b"), 640, 480, 55_555, 2.5, "", "bob", "room.jpg", Role.OFF),
            Reference("C", digest("c"), 300, 900, 1, 0.1 + 0.2, "light\nlike this", "", "result of job parent01"),
        ),
        status=JobStatus.SUCCEEDED,
        parent_id="parent01",
        action="more:B",
        sheet_digest=digest("sheet"),
        sheet_boxes={"A": (0, 0, 1024, 768), "B": (1024, 0, 2048, 768), "C": (0, 768, 300, 1668)},
        result_digests=(digest("r1"), digest("r2")),
        usage=Usage(
            input_tokens=1500, input_image_tokens=1200, input_text_tokens=300, output_tokens=4160, total_tokens=5660
        ),
        cost_usd=0.1733333333333333,
        error=None,
        warnings=("skipped.gif: not an image", "second warning"),
        created_at=1_763_950_000.123456,
        finished_at=1_763_950_042.987654,
        timings={"fetching": 0.25, "composing": 1.0 / 3.0, "generating": 38.5},
        messages={"status": "111", "result": "222", "sheet": "333"},
    )


# Text keeps any character but a lone surrogate, and plain columns any but NUL: every driver
# stores those as U+FFFD (test_text_postgres_cannot_hold_is_stored_as_a_replacement_character).
_any_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)  # inside JSON, NUL is escaped
_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
_label_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=2)
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=12)
_hex = st.binary(min_size=1, max_size=8).map(lambda b: hashlib.sha256(b).hexdigest())
_floats = st.floats(allow_nan=False, allow_infinity=False)
_small_ints = st.integers(min_value=0, max_value=2**53)
_box = st.tuples(_small_ints, _small_ints, _small_ints, _small_ints)

references = st.builds(
    Reference,
    label=_label_text,
    digest=_hex,
    width=st.integers(1, 100_000),
    height=st.integers(1, 100_000),
    byte_size=_small_ints,
    weight=_floats,
    caption=_text,
    author=_text,
    source=_text,
)

jobs = st.builds(
    Job,
    id=_ids,
    origin=st.builds(
        Origin,
        platform=st.sampled_from(["discord", "slack", "cli"]),
        workspace_id=_text,
        channel_id=_text,
        user_id=_text,
        thread_id=st.none() | _text,
        user_name=_text,
    ),
    options=st.builds(
        MergeOptions,
        prompt=st.text(st.characters(exclude_categories=["Cs"]), max_size=300),
        mode=st.sampled_from(Mode),
        model=_any_text,
        size=_any_text,
        quality=_any_text,
        background=_any_text,
        output_format=_any_text,
        n=st.integers(1, 10),
        input_fidelity=st.none() | _any_text,
    ),
    references=st.lists(references, max_size=5).map(tuple),
    status=st.sampled_from(JobStatus),
    parent_id=st.none() | _ids,
    action=st.none() | _text,
    sheet_digest=st.none() | _hex,
    sheet_boxes=st.dictionaries(_label_text, _box, max_size=4),
    result_digests=st.lists(_hex, max_size=3).map(tuple),
    usage=st.none() | st.builds(Usage, _small_ints, _small_ints, _small_ints, _small_ints, _small_ints),
    cost_usd=st.none() | _floats,
    error=st.none() | _text,
    warnings=st.lists(_text, max_size=3).map(tuple),
    created_at=_floats,
    finished_at=st.none() | _floats,
    timings=st.dictionaries(_text, _floats, max_size=4),
    messages=st.dictionaries(_text, _text, max_size=3),
)
