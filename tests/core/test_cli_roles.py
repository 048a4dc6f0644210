"""`mergebot merge --role/--strength/--mode` and what `--dry-run` says about them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.core.test_cli import images, mergebot
from tests.imagegen import jpeg


async def dry_run(tmp_path: Path, *extra: str) -> dict[str, object]:
    code, out, err = await mergebot(
        "merge", *images(tmp_path), "-p", "the cat in the room", "--out", "sheet.png", "--dry-run", *extra, cwd=tmp_path
    )
    assert code == 0, err
    described: dict[str, object] = json.loads(out)
    return described


async def test_roles_and_strengths_reach_the_references_the_images_and_the_legend(tmp_path: Path) -> None:
    (tmp_path / "style.jpg").write_bytes(jpeg(300, 600, seed=4))
    code, out, err = await mergebot(
        "merge",
        *images(tmp_path),
        "style.jpg",
        "-p",
        "the cat in the room",
        "--role",
        "B=subject",
        "--role",
        "C=style",
        "--strength",
        "B=high",
        "--strength",
        "A=low",
        "--dry-run",
        "--out",
        "sheet.png",
        cwd=tmp_path,
    )
    assert code == 0, err
    request = json.loads(out)
    assert request["mode"] == "separate" and request["requested_mode"] == "auto"
    assert [(r["label"], r["role"], r["strength"]) for r in request["references"]] == [
        ("A", "none", "low"),
        ("B", "subject", "high"),
        ("C", "style", "medium"),
    ]
    assert [image["name"] for image in request["images"]] == ["B.jpg", "C.jpg", "A.jpg"]
    legend = request["prompt"].split("\n\n", 1)[1].splitlines()
    assert legend[0].startswith("Image 1 (B, subject, high)")
    assert legend[1].startswith("Image 2 (C, style only)")
    assert legend[2].startswith("Image 3 (A, low)")


async def test_dry_run_names_the_mode_used_never_auto(tmp_path: Path) -> None:
    assert (await dry_run(tmp_path))["mode"] == "separate"
    collage = await dry_run(tmp_path, "--mode", "collage")
    assert collage["mode"] == "collage" and [i["name"] for i in collage["images"]] == ["reference-sheet.jpg"]  # type: ignore[index, union-attr]
    hybrid = await dry_run(tmp_path, "--mode", "hybrid")
    assert hybrid["mode"] == "hybrid"
    assert [i["name"] for i in hybrid["images"]] == ["reference-sheet.jpg", "A.jpg", "B.jpg"]  # type: ignore[index, union-attr]
    single = await dry_run(tmp_path, "--model", "gpt-image-2.6-flare")
    assert single["mode"] == "collage" and "takes one image" in str(single["mode_note"])


async def test_a_strong_subject_asks_for_input_fidelity_on_gpt_image_1_5_only(tmp_path: Path) -> None:
    strong = ("--role", "A=subject", "--strength", "A=max")
    assert (await dry_run(tmp_path, "--model", "gpt-image-1.5", *strong))["input_fidelity"] == "high"
    assert (await dry_run(tmp_path, "--model", "gpt-image-2", *strong))["input_fidelity"] is None


async def test_an_unknown_label_role_or_strength_exits_2_with_one_line(tmp_path: Path) -> None:
    for extra, said in (
        (["--role", "C=style"], "There is no reference C"),
        (["--role", "A=hero"], "--role takes LABEL=WORD with one of none, subject, style"),
        (["--role", "A=high"], "--role takes LABEL=WORD"),
        (["--strength", "B=huge"], "--strength takes LABEL=WORD with one of low, medium, high, max"),
        (["--strength", "B"], "--strength takes LABEL=WORD"),
    ):
        code, out, err = await mergebot("merge", *images(tmp_path), "-p", "x", "--dry-run", *extra, cwd=tmp_path)
        assert code == 2, (extra, err)
        assert said in err and len(err.strip().splitlines()) == 1 and not out, (extra, err)
