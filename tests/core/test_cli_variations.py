"""`mergebot merge --variations N`: one call with n=N, and OUT-1 … OUT-N written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.core.test_cli import images, mergebot
from tests.doubles.openai_double import OpenAIDouble

ENV_KEY = "sk-test-not-a-real-key"


async def test_four_variations_are_one_call_and_four_files(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": ENV_KEY}
    code, out, err = await mergebot(
        "merge",
        *images(tmp_path),
        "-p",
        "merge",
        "--variations",
        "4",
        "--out",
        "out.png",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert code == 0, err
    assert len(openai_double.requests) == 1 and openai_double.requests[0].params["n"] == 4
    record = json.loads(out)
    names = [f"out-{number}.png" for number in range(1, 5)]
    assert record["ok"] is True and record["outs"] == names
    pictures = []
    for name in names:
        with Image.open(tmp_path / name) as picture:
            assert picture.format == "PNG"
            pictures.append(picture.tobytes())
    assert len(set(pictures)) == 4
    assert not (tmp_path / "out.png").exists()


async def test_the_default_comes_from_mergebot_variations_and_the_wrote_line_names_the_files(
    tmp_path: Path, openai_double: OpenAIDouble
) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": ENV_KEY, "MERGEBOT_VARIATIONS": "2"}
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", "--out", "a.jpg", env=env, cwd=tmp_path)
    assert code == 0, err
    assert openai_double.requests[0].params["n"] == 2
    assert (tmp_path / "a-1.jpg").exists() and (tmp_path / "a-2.jpg").exists()
    [line] = err.splitlines()
    assert line.startswith("mergebot: wrote a-1.jpg … a-2.jpg (")


async def test_dry_run_shows_n_and_makes_no_call(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": ENV_KEY}
    code, out, err = await mergebot(
        "merge",
        *images(tmp_path),
        "-p",
        "merge",
        "--variations",
        "3",
        "--dry-run",
        "--out",
        "s.png",
        env=env,
        cwd=tmp_path,
    )
    assert code == 0, err
    assert json.loads(out)["n"] == 3
    assert openai_double.requests == []


@pytest.mark.parametrize("count", ["0", "5"])
async def test_variations_outside_1_to_4_are_exit_2_before_any_call(
    tmp_path: Path, openai_double: OpenAIDouble, count: str
) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": ENV_KEY}
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "m", "--variations", count, env=env, cwd=tmp_path)
    assert code == 2
    [line] = err.splitlines()
    assert "--variations takes 1 to 4" in line
    assert openai_double.requests == []
