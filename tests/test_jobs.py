"""Background tasks and the job log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.jobs import Background, JobLog, JobRecord


async def test_drain_waits_for_every_task_and_for_tasks_started_meanwhile() -> None:
    background = Background()
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.01)
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0.01)
        done.append("first")
        background.start(second(), name="second")

    background.start(first(), name="first")
    await background.drain()
    assert done == ["first", "second"]


async def test_a_failed_task_does_not_break_drain_and_is_let_go() -> None:
    background = Background()

    async def fails() -> None:
        raise RuntimeError("boom")

    task = background.start(fails(), name="fails")
    await background.drain()
    assert task.done() and isinstance(task.exception(), RuntimeError)
    await background.drain()  # nothing is held any more: returns at once


async def test_aclose_cancels_what_still_runs() -> None:
    background = Background()
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.sleep(3600)

    task = background.start(forever(), name="forever")
    await started.wait()
    await asyncio.wait_for(background.aclose(), 5)
    assert task.cancelled()
    assert task.get_name() == "forever"


def test_the_log_keeps_the_newest_records_first_and_counts_failures_by_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    jobs = JobLog(keep=2)
    with caplog.at_level(logging.INFO, logger="mnemo.jobs"):
        jobs.record(JobRecord("summary", "c1", False, "model down", 1.0, "timeout"))
        jobs.record(JobRecord("summary", "c2", True, "wrote s1", 0.5))
        jobs.record(JobRecord("extraction", "hi", False, "bad reply", 0.123, None))
    body = jobs.as_dict()
    assert body["failures"] == {"timeout": 1, "error": 1}
    assert [r["subject"] for r in body["recent"]] == ["hi", "c2"]
    assert body["recent"][0]["seconds"] == 0.12 and body["recent"][0]["ok"] is False
    assert isinstance(body["recent"][0]["at"], str)
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO", "WARNING"]
