"""The JobStore contract: every driver must pass these."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bot.errors import JobNotFound
from bot.model import Job, JobStatus, Reference
from bot.store import JobStore

from .conftest import make_store
from .jobs import digest, jobs, origin, rich_job, simple_job


async def test_store_satisfies_the_protocol(store: JobStore) -> None:
    assert isinstance(store, JobStore)


async def test_rich_job_round_trips_exactly(store: JobStore) -> None:
    job = rich_job()
    await store.save(job)
    loaded = await store.get(job.id)
    assert loaded == job
    assert loaded is not None
    assert type(loaded.status) is JobStatus
    assert loaded.sheet_boxes["B"] == (1024, 0, 2048, 768)
    assert isinstance(loaded.sheet_boxes["B"], tuple)
    assert [r.label for r in loaded.references] == ["A", "B", "C"]


async def test_default_job_round_trips(store: JobStore) -> None:
    job = simple_job("plain001")
    await store.save(job)
    assert await store.get("plain001") == job


async def test_get_unknown_job_is_none(store: JobStore) -> None:
    assert await store.get("nosuchjob") is None


async def test_save_replaces_the_job_and_merges_its_messages(store: JobStore) -> None:
    job = rich_job()
    await store.save(job)
    old_messages = dict(job.messages)
    smaller = replace(
        job,
        references=(Reference("A", digest("z"), 8, 8, 64),),
        sheet_boxes={},
        messages={"result": "999"},
        usage=None,
        cost_usd=None,
        status=JobStatus.FAILED,
        error="It broke.",
        warnings=(),
    )
    await store.save(smaller)
    merged = replace(smaller, messages={**old_messages, "result": "999"})
    assert await store.get(job.id) == merged
    assert (await store.job_for_message("slack", "999")) == merged


def test_generated_jobs_round_trip(store_kind: str, tmp_path: Path, database_url: str | None) -> None:
    loop = asyncio.new_event_loop()
    opened = make_store(store_kind, tmp_path, database_url)
    loop.run_until_complete(opened.open())
    checked: list[str] = []
    try:

        @settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(jobs)
        def check(job: Job) -> None:
            job = replace(job, id=f"gen{len(checked):05d}")  # fresh id: messages merge into a stored job's
            loop.run_until_complete(opened.save(job))
            assert loop.run_until_complete(opened.get(job.id)) == job
            checked.append(job.id)

        check()
        assert len(checked) >= 50
    finally:
        loop.run_until_complete(opened.close())
        loop.close()


async def test_a_deleted_job_stays_deleted_whatever_older_copy_is_saved(store: JobStore) -> None:
    """A run or a gathering that read the job before someone deleted it saves its own copy later."""
    running = simple_job("keepgone", status=JobStatus.RUNNING)
    await store.save(running)
    await store.save(replace(running, status=JobStatus.DELETED))
    await store.save(replace(running, status=JobStatus.SUCCEEDED, result_digests=(digest("made"),)))
    stored = await store.get("keepgone")
    assert stored is not None and stored.status is JobStatus.DELETED
    assert stored.result_digests == (digest("made"),)  # the rest of the copy is kept


async def test_set_message_indexes_the_message(store: JobStore) -> None:
    await store.save(simple_job("job00001"))
    await store.set_message("job00001", "status", "m-100")
    await store.set_message("job00001", "result", "m-200")
    found = await store.job_for_message("discord", "m-200")
    assert found is not None
    assert found.id == "job00001"
    assert found.messages == {"status": "m-100", "result": "m-200"}
    # a role's message can be replaced, and the old id then leads nowhere
    await store.set_message("job00001", "status", "m-300")
    assert (await store.job_for_message("discord", "m-300")) is not None
    assert await store.job_for_message("discord", "m-100") is None


async def test_message_lookup_is_per_platform(store: JobStore) -> None:
    await store.save(simple_job("disc0001", messages={"result": "42"}))
    await store.save(simple_job("slck0001", origin=origin(platform="slack"), messages={"result": "42"}))
    discord_job = await store.job_for_message("discord", "42")
    slack_job = await store.job_for_message("slack", "42")
    assert discord_job is not None and discord_job.id == "disc0001"
    assert slack_job is not None and slack_job.id == "slck0001"
    assert await store.job_for_message("cli", "42") is None


async def test_a_message_shared_by_two_jobs_leads_to_the_newest(store: JobStore) -> None:
    await store.save(simple_job("older001", created_at=10.0, messages={"status": "m"}))
    await store.save(simple_job("newer001", created_at=20.0, messages={"result": "m"}))
    found = await store.job_for_message("discord", "m")
    assert found is not None and found.id == "newer001"
    older = await store.get("older001")
    assert older is not None and older.messages == {"status": "m"}


async def test_set_message_on_unknown_job_raises(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        await store.set_message("nosuchjob", "result", "1")


async def test_children_in_creation_order(store: JobStore) -> None:
    await store.save(simple_job("parent01"))
    await store.save(simple_job("child002", created_at=30.0, parent_id="parent01", action="retry"))
    await store.save(simple_job("child001", created_at=20.0, parent_id="parent01", action="more:A"))
    await store.save(simple_job("grand001", created_at=40.0, parent_id="child001"))
    children = await store.children("parent01")
    assert [c.id for c in children] == ["child001", "child002"]
    assert children[0].action == "more:A"
    assert await store.children("child002") == []


async def test_recent_jobs_newest_first_without_deleted(store: JobStore) -> None:
    for i in range(5):
        await store.save(simple_job(f"recent0{i}", created_at=100.0 + i))
    await store.save(simple_job("deleted0", created_at=200.0, status=JobStatus.DELETED))
    await store.save(simple_job("otherws0", created_at=300.0, origin=origin(workspace="guild-2")))
    await store.save(simple_job("otherpf0", created_at=300.0, origin=origin(platform="slack")))
    recent = await store.recent_jobs("discord", "guild-1", limit=3)
    assert [j.id for j in recent] == ["recent04", "recent03", "recent02"]
    assert len(await store.recent_jobs("discord", "guild-1")) == 5
    assert recent[0].references == (await store.get("recent04") or simple_job("x")).references


async def test_count_user_jobs_since(store: JobStore) -> None:
    me = origin(user="me")
    for i, at in enumerate((50.0, 100.0, 150.0)):
        await store.save(simple_job(f"mine000{i}", created_at=at, origin=me))
    await store.save(simple_job("mine0del", created_at=160.0, origin=me, status=JobStatus.DELETED))
    await store.save(simple_job("mine0err", created_at=170.0, origin=me, status=JobStatus.FAILED))
    await store.save(simple_job("someone0", created_at=150.0, origin=origin(user="you")))
    await store.save(simple_job("otherws0", created_at=150.0, origin=origin(user="me", workspace="guild-2")))
    assert await store.count_user_jobs_since("discord", "guild-1", "me", 100.0) == 4
    assert await store.count_user_jobs_since("discord", "guild-1", "me", 0.0) == 5
    assert await store.count_user_jobs_since("discord", "guild-1", "me", 171.0) == 0
    assert await store.count_user_jobs_since("slack", "guild-1", "me", 0.0) == 0


async def test_cost_since(store: JobStore) -> None:
    assert await store.cost_since("discord", "guild-1", 0.0) == 0.0
    await store.save(simple_job("cost0001", created_at=10.0, cost_usd=1.25))
    await store.save(simple_job("cost0002", created_at=20.0, cost_usd=0.5))
    await store.save(simple_job("cost0003", created_at=30.0, cost_usd=None))
    await store.save(simple_job("cost0004", created_at=40.0, cost_usd=2.0, status=JobStatus.DELETED))
    await store.save(simple_job("cost0005", created_at=40.0, cost_usd=9.0, origin=origin(workspace="guild-2")))
    assert await store.cost_since("discord", "guild-1", 0.0) == pytest.approx(3.75)
    assert await store.cost_since("discord", "guild-1", 15.0) == pytest.approx(2.5)
    assert await store.cost_since("discord", "guild-2", 0.0) == pytest.approx(9.0)


async def test_totals_since_per_workspace_and_per_person(store: JobStore) -> None:
    assert await store.totals_since("discord", "guild-1", 0.0) == (0, 0.0)
    me, you = origin(user="me"), origin(user="you")
    await store.save(simple_job("tot00001", created_at=10.0, cost_usd=1.25, origin=me))
    await store.save(simple_job("tot00002", created_at=20.0, cost_usd=0.5, origin=you))
    await store.save(simple_job("tot00003", created_at=30.0, cost_usd=None, origin=me, status=JobStatus.FAILED))
    await store.save(simple_job("tot00004", created_at=40.0, cost_usd=2.0, origin=me, status=JobStatus.DELETED))
    await store.save(simple_job("tot00005", created_at=40.0, cost_usd=9.0, origin=origin(workspace="guild-2")))
    await store.save(simple_job("tot00006", created_at=40.0, cost_usd=7.0, origin=origin(platform="slack")))
    whole = await store.totals_since("discord", "guild-1", 0.0)
    assert (whole.jobs, whole.cost_usd) == (4, pytest.approx(3.75))
    mine = await store.totals_since("discord", "guild-1", 0.0, user_id="me")
    assert (mine.jobs, mine.cost_usd) == (3, pytest.approx(3.25))
    assert await store.totals_since("discord", "guild-1", 15.0, user_id="me") == (2, pytest.approx(2.0))
    assert await store.totals_since("discord", "guild-1", 41.0) == (0, 0.0)


async def test_last_result_in_channel(store: JobStore) -> None:
    assert await store.last_result_in_channel("discord", "chan-1") is None
    await store.save(simple_job("done0001", created_at=10.0, status=JobStatus.SUCCEEDED))
    await store.save(simple_job("done0002", created_at=20.0, status=JobStatus.SUCCEEDED))
    await store.save(simple_job("fail0001", created_at=30.0, status=JobStatus.FAILED))
    await store.save(simple_job("runn0001", created_at=40.0, status=JobStatus.RUNNING))
    await store.save(
        simple_job("elsewher", created_at=50.0, status=JobStatus.SUCCEEDED, origin=origin(channel="chan-2"))
    )
    last = await store.last_result_in_channel("discord", "chan-1")
    assert last is not None and last.id == "done0002"
    assert await store.last_result_in_channel("slack", "chan-1") is None


async def test_first_delivery_deduplicates(store: JobStore) -> None:
    assert await store.first_delivery("event-1") is True
    assert await store.first_delivery("event-1") is False
    assert await store.first_delivery("event-2") is True
    assert await store.first_delivery("event-1") is False


async def test_first_delivery_forgets_expired_keys(store: JobStore) -> None:
    assert await store.first_delivery("retry-me", ttl_s=-1.0) is True
    assert await store.first_delivery("retry-me") is True
    assert await store.first_delivery("retry-me") is False


async def test_concurrent_first_delivery_admits_exactly_one(store: JobStore) -> None:
    answers = await asyncio.gather(*(store.first_delivery("burst") for _ in range(20)))
    assert answers.count(True) == 1


async def test_referenced_digests(store: JobStore) -> None:
    live = rich_job("live0001")
    gone = replace(
        rich_job("gone0001"),
        status=JobStatus.DELETED,
        references=(*rich_job().references[:1], Reference("D", digest("only-deleted"), 1, 1, 1)),
        sheet_digest=digest("deleted-sheet"),
        result_digests=(digest("deleted-result"),),
    )
    await store.save(live)
    await store.save(gone)
    await store.save(simple_job("nosheet1", references=()))
    used = await store.referenced_digests()
    expected = {r.digest for r in live.references} | {live.sheet_digest} | set(live.result_digests)
    assert used == expected
    assert digest("only-deleted") not in used
    assert digest("deleted-sheet") not in used


async def test_a_refines_picture_and_mask_are_referenced(store: JobStore) -> None:
    from bot.model import Refinement

    base = rich_job("refine01")
    edit = replace(base, options=replace(base.options, refine=Refinement(digest("edited"), digest("mask"))))
    plain = replace(rich_job("refine02"), options=replace(base.options, refine=Refinement(digest("plain"))))
    gone = replace(
        rich_job("refine03"),
        status=JobStatus.DELETED,
        options=replace(base.options, refine=Refinement(digest("gone-base"), digest("gone-mask"))),
    )
    for job in (edit, plain, gone):
        await store.save(job)
    assert (await store.get("refine01")) == edit
    used = await store.referenced_digests()
    assert {digest("edited"), digest("mask"), digest("plain")} <= used
    assert not {digest("gone-base"), digest("gone-mask")} & used
    assert None not in used


async def test_concurrent_saves_and_reads_stay_consistent(store: JobStore) -> None:
    async def write_then_read(i: int) -> Job | None:
        job = replace(rich_job(f"conc{i:04d}"), created_at=float(i))
        await store.save(job)
        return await store.get(job.id)

    loaded = await asyncio.gather(*(write_then_read(i) for i in range(40)))
    assert [j.id if j else None for j in loaded] == [f"conc{i:04d}" for i in range(40)]
    assert all(j == replace(rich_job(j.id), created_at=j.created_at) for j in loaded if j)
    recent = await store.recent_jobs("slack", "T0123", limit=100)
    assert len(recent) == 40


async def test_saving_a_stale_copy_keeps_messages_recorded_meanwhile(store: JobStore) -> None:
    # the pipeline saves its own copy of a running job while the adapter records message ids
    job = simple_job("stale001")
    await store.save(job)
    await store.set_message("stale001", "status", "m-status")
    await store.save(replace(job, status=JobStatus.SUCCEEDED, messages={"result": "m-result"}))
    loaded = await store.get("stale001")
    assert loaded is not None and loaded.status is JobStatus.SUCCEEDED
    assert dict(loaded.messages) == {"status": "m-status", "result": "m-result"}
    assert (await store.job_for_message(job.origin.platform, "m-status")) == loaded


async def test_text_postgres_cannot_hold_is_stored_as_a_replacement_character(store: JobStore) -> None:
    job = simple_job("nul00001", error="bad\x00byte", messages={"status\ud800": "1"})
    job = replace(
        job,
        options=replace(job.options, prompt="lone \udc00 surrogate, 🐈 kept"),
        references=(replace(job.references[0], caption="cap\x00tion \ud83d"),),
    )
    await store.save(job)
    loaded = await store.get("nul00001")
    assert loaded is not None
    assert loaded.error == "bad\ufffdbyte"
    assert loaded.references[0].caption == "cap\ufffdtion \ufffd"
    assert loaded.options.prompt == "lone \ufffd surrogate, 🐈 kept"
