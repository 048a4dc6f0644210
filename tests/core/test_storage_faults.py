"""The disk fills up mid-run: the person whose merge it hit is told, the log says it once, the bot serves on."""

from __future__ import annotations

import asyncio
import errno
import logging

import pytest

from bot.blobs import BlobStore
from bot.errors import StorageFailed
from bot.model import JobStatus
from tests.core.chat import ChatSurface, eventually
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png


class FillingDisk:
    """The blob store's disk: writes fail with ENOSPC while ``full`` (from the result's write on)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.full = False
        self.refused = 0
        real_put = BlobStore.put

        async def put(store: BlobStore, data: bytes) -> str:
            if self.full:
                self.refused += 1
                raise OSError(errno.ENOSPC, "No space left on device")
            return await real_put(store, data)

        monkeypatch.setattr(BlobStore, "put", put)


async def test_a_full_disk_mid_run_is_told_to_the_person_and_logged_once(
    chat: ChatSurface, openai_double: OpenAIDouble, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    disk = FillingDisk(monkeypatch)
    chat.post("cat.png", png(seed=1), text="the cat")
    chat.post("room.png", png(seed=2), text="the room")

    openai_double.chunk_delay = 0.1  # the generation takes a moment: the disk fills during it
    with caplog.at_level(logging.ERROR, logger="bot"):
        first = asyncio.create_task(chat.merge("the cat in the room"))
        await eventually(lambda: openai_double.requests)
        disk.full = True  # the references and the sheet are stored; the result will not be
        outcomes = [await first, await chat.merge("the cat in the room, again")]

    for outcome in outcomes:
        assert not outcome.ok
        assert isinstance(outcome.error, StorageFailed)
        assert "the disk is full" in outcome.view.text
        assert "Traceback" not in outcome.view.text
    assert disk.refused >= 2
    storage_lines = [r for r in caplog.records if "storage refused a write" in r.getMessage()]
    assert len(storage_lines) == 1, "logged once, not once per merge"
    assert storage_lines[0].exc_info is None, "one line, no traceback"

    disk.full = False  # space is freed: the bot serves on
    again = await chat.merge("the cat in the room, once more")
    assert again.ok and again.job is not None and again.job.status is JobStatus.SUCCEEDED
