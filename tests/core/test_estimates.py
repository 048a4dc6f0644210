"""Progress says how long the generation has taken and, from this model's recent merges, how long it takes."""

from __future__ import annotations

import re

from bot.estimates import generating_text
from bot.model import Stage
from tests.core.chat import ChatSurface
from tests.doubles.openai_double import OpenAIDouble
from tests.imagegen import png

CLOCK = r"\d+:\d\d"
NO_ESTIMATE = re.compile(rf"^Generating… {CLOCK}(?:, preview (\d) of 2)?$")
WITH_ESTIMATE = re.compile(rf"^Generating… {CLOCK} of about {CLOCK}(?:, preview (\d) of 2)?$")


def generating(chat: ChatSurface, job_id: str) -> list[str]:
    return [p.text for p in chat.progress if p.job_id == job_id and p.stage is Stage.GENERATING]


async def test_the_second_merge_of_a_model_shows_elapsed_time_of_about_its_recent_duration(
    chat: ChatSurface, openai_double: OpenAIDouble
) -> None:
    openai_double.chunk_delay = 0.4
    chat.post("cat.png", png(seed=1), text="the cat")
    first = await chat.merge("the cat, twice")
    assert first.job is not None
    texts = generating(chat, first.job.id)
    assert [NO_ESTIMATE.match(t)[1] for t in texts] == [None, "1", "2"], texts  # type: ignore[index]

    second = await chat.merge("the cat, three times")
    assert second.job is not None
    texts = generating(chat, second.job.id)
    assert [WITH_ESTIMATE.match(t)[1] for t in texts] == [None, "1", "2"], texts  # type: ignore[index]


def test_the_line_reads_like_a_clock() -> None:
    assert generating_text(41.2, 70, 1, 2) == "Generating… 0:41 of about 1:10, preview 1 of 2"
    assert generating_text(75, 70) == "Generating… 1:15 of about 1:15", "an estimate never reads as already passed"
    assert generating_text(3, None, 2, 0) == "Generating… 0:03, preview 2 of 2"
