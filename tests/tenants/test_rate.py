"""Requests per minute: a burst up to the limit, then one per 60/limit seconds, each tenant apart."""

from __future__ import annotations

from app.tenants.rate import RequestRate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_zero_is_no_limit() -> None:
    rate = RequestRate(0)
    assert all(rate.take("ada") == 0 for _ in range(1000))


def test_a_burst_then_a_wait_then_one_more() -> None:
    clock = Clock()
    rate = RequestRate(3, clock)
    assert [rate.take("ada") for _ in range(3)] == [0, 0, 0]
    assert rate.take("ada") == 20  # one token every 20 s
    clock.now += 19.5
    assert rate.take("ada") == 1
    clock.now += 0.5
    assert rate.take("ada") == 0
    assert rate.take("ada") > 0


def test_tenants_have_their_own_buckets_and_a_bucket_never_holds_more_than_the_limit() -> None:
    clock = Clock()
    rate = RequestRate(2, clock)
    assert [rate.take("ada") for _ in range(3)] == [0, 0, 30]
    assert rate.take("bob") == 0
    clock.now += 3600
    assert [rate.take("ada") for _ in range(3)] == [0, 0, 30]
