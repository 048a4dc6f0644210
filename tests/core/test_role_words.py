"""The roles text people type (`A=subject C=style:high`) and the role words a caption starts with."""

from __future__ import annotations

import pytest

from bot.captions import caption_role
from bot.errors import InputError
from bot.model import Reference, Role, Strength
from bot.roles import (
    Assignment,
    apply_assignments,
    describe_assignments,
    merge_assignments,
    parse_assignments,
    request_maps,
    role_tag,
)


@pytest.mark.parametrize(
    ("caption", "role", "rest"),
    [
        ("style: watercolour please", Role.STYLE, "watercolour please"),
        ("Style:watercolour", Role.STYLE, "watercolour"),
        ("  SUBJECT: my cat", Role.SUBJECT, "my cat"),
        ("#scene the kitchen", Role.SCENE, "the kitchen"),
        ("#object", Role.OBJECT, ""),
        ("object : the lamp", Role.OBJECT, "the lamp"),
        ("stylesheet for the site", None, "stylesheet for the site"),
        ("the style: bold", None, "the style: bold"),
        ("#styles of the 80s", None, "#styles of the 80s"),
        ("none: plain", None, "none: plain"),
        ("off: skip me", None, "off: skip me"),
        ("", None, ""),
    ],
)
def test_caption_role_words(caption: str, role: Role | None, rest: str) -> None:
    assert caption_role(caption) == (role, rest)


def test_roles_text_takes_roles_strengths_and_both() -> None:
    parsed = parse_assignments("A=subject, c = style:high; b=low  D=off/max e=Scene")
    assert dict(parsed.by_label) == {
        "A": Assignment(Role.SUBJECT),
        "C": Assignment(Role.STYLE, Strength.HIGH),
        "B": Assignment(strength=Strength.LOW),
        "D": Assignment(Role.OFF, Strength.MAX),
        "E": Assignment(Role.SCENE),
    }
    assert parse_assignments(" Reset ").reset
    assert parse_assignments("").empty


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("A=hero", "“hero” for A is neither a role nor a strength"),
        ("A", "I can't read “A” as a role"),
        ("A=subject B", "I can't read “B” as a role"),
        ("ABC=style", "I can't read “ABC=style” as a role"),
        ("reset A=style", "I can't read “reset” as a role"),
        ("<@123>=style", "I can't read “<@123>=style”"),
    ],
)
def test_roles_text_mistakes_say_what_works(text: str, said: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_assignments(text)
    assert said in caught.value.user_message
    assert "for example `A=subject C=style:high B=off`" in caught.value.user_message


def ref(label: str, role: Role = Role.NONE, weight: float = 1.0) -> Reference:
    return Reference(label=label, digest=label, width=1, height=1, byte_size=1, role=role, weight=weight)


def test_apply_reset_describe_and_tags() -> None:
    start = (ref("A", Role.SUBJECT, 1.5), ref("B"), ref("C", Role.STYLE, 0.5))
    changed = apply_assignments(start, parse_assignments("A=max B=off C=scene"))
    assert [(r.role, r.strength) for r in changed] == [
        (Role.SUBJECT, Strength.MAX),
        (Role.OFF, Strength.MEDIUM),
        (Role.SCENE, Strength.LOW),
    ]
    assert describe_assignments(changed) == "A=subject:max B=off:medium C=scene:low"
    assert parse_assignments(describe_assignments(changed)).by_label["C"] == Assignment(Role.SCENE, Strength.LOW)
    assert [role_tag(r) for r in changed] == ["subject · max", "off", "scene · low"]
    reset = apply_assignments(changed, parse_assignments("reset"))
    assert {(r.role, r.weight) for r in reset} == {(Role.NONE, 1.0)}
    with pytest.raises(InputError, match="no reference D in this merge"):
        apply_assignments(start, parse_assignments("D=style"))


def test_repeated_flags_merge_and_become_a_requests_roles_and_weights() -> None:
    merged = merge_assignments(
        [parse_assignments("A=subject"), parse_assignments("A=high"), parse_assignments("B=off")]
    )
    assert request_maps(merged) == ({"A": Role.SUBJECT, "B": Role.OFF}, {"A": 2.0})
