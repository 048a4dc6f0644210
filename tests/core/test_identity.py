"""Every OpenAI call carries a salted per-person ``safety_identifier``, never the raw id."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

from bot.identity import SALT_FILE, load_salt, safety_identifier
from bot.model import Origin
from bot.service import MergeService
from bot.settings import Secret, Settings
from tests.core.chat import ChatSurface
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


async def test_each_person_is_sent_as_a_salted_hash(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("cat.png", png(64, 48, seed=1))
    assert (await chat.merge("the cat from A", user="U0ANA")).ok
    assert (await chat.merge("the cat from A", user="U0ANA")).ok
    assert (await chat.merge("the cat from A", user="U0BEN")).ok
    ana, ana_again, ben = (r.fields.get("safety_identifier", "") for r in openai_double.requests)
    assert len(ana) == 64 and int(ana, 16) >= 0  # hex, the API's maximum length
    assert ana == ana_again and ana != ben
    assert "U0ANA" not in ana and "team-1" not in ana


async def test_a_retry_by_someone_else_is_sent_as_them(chat: ChatSurface, openai_double: OpenAIDouble) -> None:
    chat.post("cat.png", png(64, 48, seed=1))
    first = await chat.merge("the cat from A", user="U0ANA")
    retry = next(c for c in first.view.controls if c.kind.value == "retry")
    assert (await chat.press(retry, user="U0BEN")).ok
    ana, ben = (r.fields["safety_identifier"] for r in openai_double.requests)
    assert ana != ben


async def test_the_salt_is_made_once_and_kept_private(settings: Settings) -> None:
    salt = load_salt(settings)
    path = settings.data_dir / SALT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_salt(settings) == salt and len(salt) == 64
    service = await MergeService.open(settings)  # a restart keeps the same identifiers
    await service.aclose()
    assert load_salt(settings) == salt


def test_a_configured_salt_wins_and_changes_every_identifier(tmp_path: Path) -> None:
    origin = Origin("slack", "T1", "C1", "U1")
    kept = Settings(data_dir=tmp_path)
    configured = replace(kept, safety_salt=Secret("operator-chosen-salt"))
    assert load_salt(configured) == b"operator-chosen-salt"
    assert not (tmp_path / SALT_FILE).exists()
    assert safety_identifier(origin, load_salt(configured)) != safety_identifier(origin, load_salt(kept))
    same_user_elsewhere = Origin("discord", "T1", "C1", "U1")
    assert safety_identifier(origin, b"s") != safety_identifier(same_user_elsewhere, b"s")
