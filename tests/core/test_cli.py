"""The `mergebot` command as a person uses it: exit codes, output files, one-line reasons."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from PIL import Image

from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import jpeg, png

ROOT = Path(__file__).resolve().parents[2]


async def mergebot(*args: str, env: dict[str, str] | None = None, cwd: Path) -> tuple[int, str, str]:
    """Run the CLI in a subprocess without blocking the event loop the doubles live on."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MERGEBOT_", "DISCORD_", "SLACK_"))}
    base["PYTHONPATH"] = str(ROOT)
    base["MERGEBOT_DATA_DIR"] = str(cwd / "data")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


def images(tmp_path: Path) -> list[str]:
    (tmp_path / "cat.png").write_bytes(png(640, 480, seed=1))
    (tmp_path / "room.jpg").write_bytes(jpeg(800, 600, seed=2))
    return ["cat.png", "room.jpg"]


async def test_dry_run_writes_the_sheet_and_prints_the_request(tmp_path: Path) -> None:
    code, out, err = await mergebot(
        "merge",
        *images(tmp_path),
        "--prompt",
        "the cat in the room",
        "--weight",
        "B=2",
        "--size",
        "1536x1024",
        "--out",
        "sheet.png",
        "--dry-run",
        cwd=tmp_path,
    )
    assert code == 0, err
    request = json.loads(out)
    assert request["model"] == "gpt-image-2" and request["mode"] == "collage"
    assert request["prompt"].startswith("the cat in the room")
    assert request["size"] == "1536x1024"
    assert [r["label"] for r in request["references"]] == ["A", "B"]
    assert request["references"][1]["weight"] == 2.0
    assert request["images"][0]["mime"] == "image/jpeg" and request["images"][0]["bytes"] > 0
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.size == (request["sheet"]["width"], request["sheet"]["height"])
    boxes = request["sheet"]["boxes"]

    def area(b: list[int]) -> int:
        return (b[2] - b[0]) * (b[3] - b[1])

    assert area(boxes["B"]) > area(boxes["A"])


async def test_dry_run_does_not_import_the_openai_sdk(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png())
    probe = (
        "import sys, runpy; sys.argv=['mergebot','merge','a.png','-p','x','--dry-run','--out','s.png'];\n"
        "try:\n    runpy.run_module('bot.cli', run_name='__main__')\nexcept SystemExit: pass\n"
        "print('openai' in sys.modules, file=sys.stderr)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        probe,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await process.communicate()
    assert err.decode().strip().splitlines()[-1] == "False"


async def test_merge_writes_the_result(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, _, err = await mergebot(
        "merge", *images(tmp_path), "--prompt", "merge", "--out", "out.webp", env=env, cwd=tmp_path
    )
    assert code == 0, err
    with Image.open(tmp_path / "out.webp") as result:
        assert result.format == "WEBP"
    assert openai_double.requests[-1].fields["output_format"] == "webp"
    assert "[generating] preview 1 received" in err
    assert "sk-test" not in err


async def test_a_bad_file_is_named_and_the_rest_merged(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    (tmp_path / "notes.txt").write_text("not a picture")
    code, _, err = await mergebot(
        "merge", *images(tmp_path), "notes.txt", "missing.png", "-p", "merge", env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert "Skipped C (notes.txt)" in err and "missing.png" in err
    assert (tmp_path / "merged.png").exists()


async def test_a_refused_merge_writes_nothing_and_exits_2(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, _, err = await mergebot(
        "merge", *images(tmp_path), "-p", "merge", "--model", "gpt-image-1", env=env, cwd=tmp_path
    )
    assert code == 2 and "shut down" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "merged.png").exists()


async def test_a_model_failure_exits_1(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    openai_double.fail_next("moderation_blocked", categories=("violence",))
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", env=env, cwd=tmp_path)
    assert code == 1 and "violence" in err and "Traceback" not in err
    assert not (tmp_path / "merged.png").exists()


async def test_bad_usage_exits_2(tmp_path: Path) -> None:
    for args in (
        ["merge", *images(tmp_path), "-p", "x", "--weight", "B=9"],
        ["merge", *images(tmp_path), "-p", "x", "--size", "huge"],
        ["merge", *images(tmp_path), "-p", "x", "--out", "result.gif"],
        ["merge", "nothing.png", "-p", "x"],
        ["merge", *images(tmp_path)],
    ):
        code, _, err = await mergebot(*args, cwd=tmp_path)
        assert code == 2, (args, err)
        assert "Traceback" not in err


async def test_run_without_credentials_names_the_variables(tmp_path: Path) -> None:
    code, _, err = await mergebot("run", cwd=tmp_path)
    assert code == 2
    for variable in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert variable in err


async def test_invalid_settings_exit_2_with_the_variable_named(tmp_path: Path) -> None:
    code, _, err = await mergebot("run", env={"MERGEBOT_CONCURRENCY": "many"}, cwd=tmp_path)
    assert code == 2 and "MERGEBOT_CONCURRENCY" in err
