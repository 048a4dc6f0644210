"""Choosing a store driver by name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

import bot.store as store_module
from bot.errors import ConfigError
from bot.settings import Settings
from bot.sqlite_store import MEMORY, SqliteJobStore
from bot.store import DEFAULT_DRIVER, JobStore, create_store, drivers, open_store, register_driver


@dataclass(frozen=True)
class _SettingsWithDriver(Settings):
    store_driver: str = "test-memory"


def _memory_store(settings: Settings) -> JobStore:
    return SqliteJobStore(Path(MEMORY))


def test_sqlite_is_the_default_and_always_available() -> None:
    assert DEFAULT_DRIVER == "sqlite"
    assert "sqlite" in drivers()


async def test_a_registered_driver_is_chosen_by_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(store_module._factories, "test-memory", _memory_store)
    assert "test-memory" in drivers()
    store = await open_store(_SettingsWithDriver(data_dir=tmp_path))
    try:
        assert isinstance(store, SqliteJobStore) and store.in_memory
        assert await store.first_delivery("opened") is True
    finally:
        await store.close()
    assert not (tmp_path / "mergebot.sqlite3").exists()


def test_register_driver_adds_a_factory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(store_module, "_factories", dict(store_module._factories))
    register_driver("other", _memory_store)
    assert isinstance(create_store(Settings(data_dir=tmp_path), "other"), SqliteJobStore)


def test_an_unknown_driver_names_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        create_store(_SettingsWithDriver(data_dir=tmp_path, store_driver="mongodb"))
    assert "MERGEBOT_STORE" in caught.value.user_message
    assert "sqlite" in caught.value.user_message
    assert "postgres" in caught.value.user_message
