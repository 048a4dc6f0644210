"""The `mergebot` command as a person uses it: exit codes, output files, one-line reasons."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest
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
    assert request["model"] == "gpt-image-2" and request["mode"] == "separate"
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


async def test_merge_writes_the_result_and_when_piped_prints_one_line(
    tmp_path: Path, openai_double: OpenAIDouble
) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, out, err = await mergebot(
        "merge", *images(tmp_path), "--prompt", "merge", "--out", "out.webp", env=env, cwd=tmp_path
    )
    assert code == 0, err
    with Image.open(tmp_path / "out.webp") as result:
        assert result.format == "WEBP"
    assert openai_double.requests[-1].fields["output_format"] == "webp"
    assert out == ""
    [line] = err.splitlines()  # no progress when stderr is not a terminal
    assert line.startswith("mergebot: wrote out.webp (") and str(tmp_path / "data" / "cli") in line
    assert "sk-test" not in err


async def test_skip_bad_names_the_bad_files_and_merges_the_rest(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    (tmp_path / "notes.txt").write_text("not a picture")
    code, _, err = await mergebot(
        "merge", *images(tmp_path), "notes.txt", "missing.png", "-p", "merge", "--skip-bad", env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert "warning: Skipped missing.png: no such file" in err
    assert "warning: Skipped C (notes.txt)" in err
    assert (tmp_path / "merged.png").exists()


@pytest.mark.parametrize(
    ("argument", "reason"),
    [
        ("missing.png", "missing.png: no such file"),
        ("folder", "folder: is a directory"),
        ("https://example.com/cat.png", "https://example.com/cat.png: is a URL"),
        ("/proc/self/mem", "/proc/self/mem: cannot read it"),  # unreadable even for root
        ("notes.txt", "notes.txt: the file is not an image"),
    ],
)
async def test_a_bad_input_exits_2_with_one_line_naming_it_before_any_call(
    tmp_path: Path, openai_double: OpenAIDouble, argument: str, reason: str
) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("shopping list")
    code, _, err = await mergebot("merge", *images(tmp_path), argument, "-p", "merge", env=env, cwd=tmp_path)
    assert code == 2, err
    [line] = err.splitlines()
    assert line.startswith("mergebot: ") and reason in line, line
    assert openai_double.requests == []
    assert not (tmp_path / "merged.png").exists()


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        ("nowhere/merged.png", "the folder nowhere does not exist"),
        ("outdir.png", "is a directory"),
        ("/proc/x.png", "cannot write in /proc"),  # not even root can create files there
    ],
)
async def test_an_unwritable_out_is_refused_before_any_call(
    tmp_path: Path, openai_double: OpenAIDouble, out: str, reason: str
) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    (tmp_path / "outdir.png").mkdir()
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", "--out", out, env=env, cwd=tmp_path)
    assert code == 2, err
    [line] = err.splitlines()
    assert f"--out {out}" in line and reason in line and "Traceback" not in err
    assert openai_double.requests == [], "a paid result is never lost to a bad path"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--weight", "D=2"], "There is no D to weigh: the references are A and B"),
        (["--model", "gpt-image-1"], "shut down"),
        (["--size", "1000x1000"], "Size 1000x1000"),
        (["-p", "the cat from A in the room of C"], "Your prompt names C"),
        (["-p", "x" * 5000], "the limit is 4000"),
    ],
)
async def test_dry_run_runs_the_checks_of_a_real_run(tmp_path: Path, args: list[str], reason: str) -> None:
    prompt = [] if "-p" in args else ["-p", "merge"]
    code, out, err = await mergebot("merge", *images(tmp_path), *prompt, *args, "--dry-run", cwd=tmp_path)
    assert code == 2, err
    [line] = err.splitlines()
    assert reason in line, line
    assert out == "" and not (tmp_path / "merged.png").exists()


async def test_a_cli_merge_works_beside_a_running_bot_on_the_same_data_dir(
    tmp_path: Path, openai_double: OpenAIDouble
) -> None:
    from bot.sqlite_store import SqliteJobStore

    running_bot = SqliteJobStore(tmp_path / "data" / "mergebot.sqlite3")  # holds the data dir's lock
    await running_bot.open()
    try:
        env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
        code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", env=env, cwd=tmp_path)
    finally:
        await running_bot.close()
    assert code == 0, err
    assert (tmp_path / "merged.png").exists()


async def test_without_a_data_dir_setting_the_cli_uses_the_per_user_one_and_says_so(
    tmp_path: Path, openai_double: OpenAIDouble
) -> None:
    env = {
        "OPENAI_BASE_URL": openai_double.base_url,
        "OPENAI_API_KEY": "sk-test-not-a-real-key",
        "MERGEBOT_DATA_DIR": "",
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", env=env, cwd=tmp_path)
    assert code == 0, err
    assert not (tmp_path / "data").exists(), "no ./data dropped where it ran"
    where = tmp_path / "xdg" / "mergebot" / "cli"
    assert (where / "mergebot.sqlite3").exists() and str(where) in err


async def test_json_and_quiet_are_for_scripts(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, out, err = await mergebot("merge", *images(tmp_path), "-p", "merge", "--json", env=env, cwd=tmp_path)
    assert code == 0 and err == "", err
    record = json.loads(out)
    assert record["ok"] is True and record["out"] == "merged.png" and record["bytes"] > 0 and record["merge"]

    code, out, err = await mergebot("merge", *images(tmp_path), "-p", "merge", "-q", env=env, cwd=tmp_path)
    assert (code, out, err) == (0, "", "")

    code, out, err = await mergebot("merge", "gone.png", "-p", "merge", "--json", env=env, cwd=tmp_path)
    assert code == 2 and json.loads(out) == {"ok": False, "exit": 2, "error": "gone.png: no such file"}
    assert len(err.splitlines()) == 1


async def test_on_a_terminal_progress_is_one_live_line(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    import pty

    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    controller, terminal = pty.openpty()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MERGEBOT_"))}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "merge",
        *images(tmp_path),
        "-p",
        "merge",
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(ROOT), "MERGEBOT_DATA_DIR": str(tmp_path / "data"), **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=terminal,
    )
    os.close(terminal)
    await asyncio.wait_for(process.wait(), 60)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the terminal's other end is closed
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    text = shown.decode()
    assert process.returncode == 0, text
    assert "\r\x1b[Kgenerating… preview 1 received" in text, "a live line, rewritten in place"
    assert text.rstrip().splitlines()[-1].lstrip("\r\x1b[K").startswith("mergebot: wrote merged.png")


async def test_a_refused_merge_writes_nothing_and_exits_2(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    code, _, err = await mergebot(
        "merge", *images(tmp_path), "-p", "merge", "--model", "gpt-image-1", env=env, cwd=tmp_path
    )
    assert code == 2 and "shut down" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "merged.png").exists()


async def test_a_model_failure_exits_1_with_exactly_one_line(tmp_path: Path, openai_double: OpenAIDouble) -> None:
    env = {"OPENAI_BASE_URL": openai_double.base_url, "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    openai_double.fail_next("moderation_blocked", categories=("violence",))
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "merge", env=env, cwd=tmp_path)
    assert code == 1 and "violence" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "merged.png").exists()


async def test_bad_usage_exits_2_with_one_line(tmp_path: Path) -> None:
    for args in (
        ["merge", *images(tmp_path), "-p", "x", "--weight", "B=9"],
        ["merge", *images(tmp_path), "-p", "x", "--size", "huge"],
        ["merge", *images(tmp_path), "-p", "x", "--out", "result.gif"],
        ["merge", "nothing.png", "-p", "x"],
        ["merge", *images(tmp_path)],
        ["merge", *images(tmp_path), "-p", "x", "--quiet", "--json"],
        ["frobnicate"],
    ):
        code, _, err = await mergebot(*args, cwd=tmp_path)
        assert code == 2, (args, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err, (args, err)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MERGEBOT_MAX_IMAGES", "100"),  # more than one sheet can hold
        ("MERGEBOT_SHEET_SIDE", "100000"),  # would hang composing a 10-gigapixel sheet
        ("MERGEBOT_PARTIAL_IMAGES", "9"),
        ("MERGEBOT_JOB_TIMEOUT", "nan"),
        ("MERGEBOT_MAX_PROMPT_CHARS", "1000000"),
        ("SLACK_PORT", "70000"),
    ],
)
async def test_an_out_of_bounds_setting_exits_2_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    env = {variable: value}
    code, _, err = await mergebot("merge", *images(tmp_path), "-p", "x", "--dry-run", env=env, cwd=tmp_path)
    assert code == 2, err
    [line] = err.splitlines()
    assert variable in line and "must be from" in line


async def test_version_and_health_say_what_they_are(tmp_path: Path) -> None:
    code, out, _ = await mergebot("--version", cwd=tmp_path)
    assert code == 0 and re.fullmatch(r"mergebot \d+\.\d+\.\d+\S*\n", out), out

    code, out, err = await mergebot("health", cwd=tmp_path)
    heartbeat = tmp_path / "data" / "heartbeat"
    assert code == 1 and out == "" and f"no heartbeat file {heartbeat}" in err

    heartbeat.parent.mkdir()
    heartbeat.touch()
    code, out, _ = await mergebot("health", cwd=tmp_path)
    assert code == 0 and f"healthy: heartbeat file {heartbeat} was touched" in out

    old = time.time() - 600
    os.utime(heartbeat, (old, old))
    code, _, err = await mergebot("health", cwd=tmp_path)
    assert code == 1 and re.search(r"is 6\d\d s old \(stale after 90 s\): the bot is stopped or stuck", err), err


async def test_run_without_credentials_names_the_variables(tmp_path: Path) -> None:
    code, _, err = await mergebot("run", cwd=tmp_path)
    assert code == 2
    for variable in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert variable in err


async def test_invalid_settings_exit_2_with_the_variable_named(tmp_path: Path) -> None:
    code, _, err = await mergebot("run", env={"MERGEBOT_CONCURRENCY": "many"}, cwd=tmp_path)
    assert code == 2 and "MERGEBOT_CONCURRENCY" in err


async def _imported_after(args: list[str], cwd: Path) -> set[str]:
    probe = (
        f"import sys, runpy; sys.argv=['mergebot', *{args!r}];\n"
        "try:\n    runpy.run_module('bot.cli', run_name='__main__')\nexcept SystemExit: pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        probe,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    return set(err.decode().strip().splitlines()[-1].split())


async def test_start_up_imports_only_what_the_command_needs(tmp_path: Path) -> None:
    """Start-up is most of a small merge's time: no Pillow or asyncio for --help, no aiohttp for local files."""
    helped = await _imported_after(["--help"], tmp_path)
    assert "bot.choices" in helped
    # Not the bot's model or settings, nor importlib.metadata (the platforms are read from their listings).
    unneeded = {"PIL", "asyncio", "aiohttp", "openai", "compose.render", "compose.layout", "bot.model"}
    unneeded |= {"bot.settings", "importlib.metadata", "dataclasses", "tempfile", "json"}
    assert not unneeded & helped
    (tmp_path / "a.png").write_bytes(png())
    merged = await _imported_after(["merge", "a.png", "-p", "x", "--dry-run", "--out", "s.png"], tmp_path)
    assert "PIL.PngImagePlugin" in merged
    unneeded = {"aiohttp", "openai", "importlib.metadata", "PIL.PsdImagePlugin", "PIL.EpsImagePlugin"}
    # Only the plugins a PNG needs; no colour management without a profile; no worker processes.
    unneeded |= {"PIL.TiffImagePlugin", "PIL.WebPImagePlugin", "PIL.ImageCms", "multiprocessing", "email.utils"}
    assert not unneeded & merged


async def test_version_is_looked_up_only_when_asked_for(tmp_path: Path) -> None:
    code, out, _ = await mergebot("--version", cwd=tmp_path)
    assert code == 0 and out.startswith("mergebot ")


async def test_dry_run_writes_the_sheets_own_bytes_when_the_suffix_matches(tmp_path: Path) -> None:
    code, out, err = await mergebot("merge", *images(tmp_path), "-p", "x", "--dry-run", "--out", "s.jpg", cwd=tmp_path)
    assert code == 0, err
    assert (tmp_path / "s.jpg").stat().st_size == json.loads(out)["sheet"]["bytes"]


async def test_dry_run_writes_a_png_sheet_quickly_and_losslessly(tmp_path: Path) -> None:
    """A .png of the JPEG sheet is the sheet's pixels, written at a fast zlib level (not Pillow's default 6)."""
    code, out, err = await mergebot("merge", *images(tmp_path), "-p", "x", "--dry-run", "--out", "s.png", cwd=tmp_path)
    assert code == 0, err
    written = tmp_path / "s.png"
    sheet = json.loads(out)["sheet"]
    with Image.open(written) as image:
        assert image.format == "PNG" and image.size == (sheet["width"], sheet["height"])
        pixels = image.convert("RGB")
    default_level = io.BytesIO()
    pixels.save(default_level, "PNG")
    assert written.stat().st_size > len(default_level.getvalue())  # a faster, lighter compression than level 6


async def test_a_tiny_image_is_shown_small_and_the_cli_says_so(tmp_path: Path) -> None:
    """A 24-px icon is never blown up past twice its size; the warning line and the JSON both say so."""
    (tmp_path / "room.jpg").write_bytes(jpeg(1200, 900, seed=2))
    (tmp_path / "icon.png").write_bytes(png(24, 24, seed=3))
    code, out, err = await mergebot(
        "merge",
        "room.jpg",
        "icon.png",
        "-p",
        "the logo of B on the wall of A",
        "--dry-run",
        "--out",
        "s.png",
        cwd=tmp_path,
    )
    assert code == 0, err
    assert "mergebot: warning: B is only 24x24 px, so it is shown small on the sheet" in err
    request = json.loads(out)
    assert any(line.startswith("B is only 24x24 px") for line in request["warnings"])
    x0, y0, x1, y1 = request["sheet"]["boxes"]["B"]
    assert x1 - x0 <= 48 and y1 - y0 <= 48
