"""ruff on the whole tree and mypy --strict on bot/, compose/ and adapters/ are part of the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: install the test extra (pip install -e '.[test]')")
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run([tool("ruff"), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_on_bot_compose_and_adapters() -> None:
    command = [tool("mypy"), "--strict", "bot", "compose", "adapters"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


SELF_CONTAINED = ("tests", "bot", "compose", "adapters", "benchmarks", ".ci")


def test_nothing_reaches_outside_the_checkout_for_files() -> None:
    """A bare clone runs the suite: no code path reads the ``shared`` folder beside the checkout."""
    parent_shared = "/".join(("..", "shared"))
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in SELF_CONTAINED
        for path in sorted((ROOT / folder).rglob("*"))
        if path.is_file() and path.suffix in {".py", ""} and "__pycache__" not in path.parts
        and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if parent_shared in line or '"shared"' in line
    ]
    assert offenders == []


def test_the_pinned_specs_are_in_the_repository() -> None:
    from tests.doubles.specs import SPECS_DIR

    if "MERGEBOT_SPECS_DIR" not in os.environ:
        assert SPECS_DIR == ROOT / "tests" / "specs"
    for name in ("openai-openapi.yaml", "discord-openapi.json", "openai-openapi.LICENSE", "discord-openapi.LICENSE"):
        assert (ROOT / "tests" / "specs" / name).is_file(), name
