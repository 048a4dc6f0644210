"""compose stays a pure image module: no chat, no event loop, no network; layout has no image library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

COMPOSE = Path(__file__).resolve().parents[2] / "compose"
FORBIDDEN = ("bot", "adapters", "asyncio", "socket", "http", "urllib", "requests", "httpx", "aiohttp", "openai")


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(COMPOSE.glob("*.py")), ids=lambda path: path.name)
def test_compose_imports_nothing_from_the_layers_above_or_the_network(path: Path) -> None:
    assert not imported_roots(path) & set(FORBIDDEN)


def test_layout_is_pure_geometry() -> None:
    """Only the standard library: no Pillow, and no other compose module that could bring it in."""
    roots = imported_roots(COMPOSE / "layout.py")
    assert roots, "the import scan found nothing: is the file still there?"
    assert all(root in sys.stdlib_module_names or root == "__future__" for root in roots), roots
