"""Block Kit for controls and views stays within Slack's limits for any number of references."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from adapters.slack import blocks
from bot.model import ActionKind, Job, MergeOptions, Origin, Reference, View
from bot.views import result_controls
from compose import sheet_label


def job_with(references: int) -> Job:
    refs = tuple(Reference(sheet_label(i), f"d{i}", 10, 10, 10) for i in range(references))
    origin = Origin("slack", "T1", "C1", "U1")
    return Job(id="abc123def0", origin=origin, options=MergeOptions(prompt="p"), references=refs)


def rendered(view: View) -> list[dict[str, Any]]:
    raw = blocks.view_blocks(view)
    assert [b.to_dict() for b in Block.parse_all(raw)] == raw
    return raw


@given(st.integers(min_value=1, max_value=60), st.text(max_size=5000))
def test_any_view_fits_block_kit(references: int, text: str) -> None:
    raw = rendered(View(text=text, controls=result_controls(job_with(references))))
    assert len(raw) <= 50
    sections = [b for b in raw if b["type"] == "section"]
    assert len(sections) == (1 if text.strip() else 0)
    assert all(len(b["text"]["text"].strip()) > 0 and len(b["text"]["text"]) <= 3000 for b in sections)
    for block in raw[len(sections) :]:
        assert block["type"] == "actions" and 1 <= len(block["elements"]) <= 25


def test_few_references_are_buttons_in_order() -> None:
    raw = rendered(View(text="done", controls=result_controls(job_with(3))))
    elements = raw[1]["elements"]
    assert [e["text"]["text"] for e in elements] == [
        "🔁 Retry",
        "🇦 More A",
        "🇧 More B",
        "🇨 More C",
        "🎭 Roles…",
        "🪄 Refine…",
        "✏️ Edit prompt",
        "📌 Use as reference",
        "ℹ️ Details",
        "🗑️ Delete",
    ]
    assert [e.get("style") for e in elements][:1] == ["primary"] and elements[-1]["style"] == "danger"


def test_many_references_become_one_select() -> None:
    raw = rendered(View(text="done", controls=result_controls(job_with(blocks.REBALANCE_BUTTONS_MAX + 1))))
    [select] = [e for e in raw[1]["elements"] if e["type"] == "static_select"]
    assert select["action_id"] == f"{blocks.SELECT_PREFIX}abc123def0"
    assert len(select["options"]) == blocks.REBALANCE_BUTTONS_MAX + 1
    assert not [e for e in raw[1]["elements"] if "mb:more:" in e["action_id"] and e["type"] == "button"]


def test_text_is_escaped_for_mrkdwn() -> None:
    assert blocks.section("<@U1> & <!channel>")["text"]["text"] == "&lt;@U1&gt; &amp; &lt;!channel&gt;"


def test_no_controls_no_actions_block() -> None:
    assert blocks.control_blocks(()) == []
    assert ActionKind.REBALANCE.value == blocks.SELECT_PREFIX.split(":")[1]
