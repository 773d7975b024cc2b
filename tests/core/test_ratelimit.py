"""The shared send rate: slots under every limit, booked in chunks, honoured across dispatchers, and
the 429 block. Run against the in-process limiter and against real Redis."""

from __future__ import annotations

import threading
import time

import pytest

from core import ratelimit


@pytest.fixture(params=["local", "redis"])
def make_limiter(request):  # noqa: ANN001, ANN201
    if request.param == "local":
        return ratelimit.LocalLimiter
    redis_url = request.getfixturevalue("redis_url")
    from redis import Redis

    return lambda: ratelimit.RedisLimiter(Redis.from_url(redis_url))


def _starts(pacer: ratelimit.Pacer, count: int, threads: int, *, on_the_way=None, way_back=None) -> list[float]:  # noqa: ANN001
    """When each of `count` requests reaches the 'provider', sent by `threads` threads through the pacer;
    `on_the_way` and `way_back` stand for the trip there and the answer's trip back."""
    stamps: list[float] = []
    lock = threading.Lock()
    todo = iter(range(count))

    def run() -> None:
        while True:
            with lock:
                if next(todo, None) is None:
                    return
            with pacer.slot():
                if on_the_way:
                    on_the_way()
                with lock:
                    stamps.append(time.monotonic())
                if way_back:
                    way_back()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return sorted(stamps)


def test_slots_are_spaced_at_the_slowest_limit(make_limiter) -> None:  # noqa: ANN001
    pacer = ratelimit.Pacer(make_limiter(), [("campaign:1", 40.0), ("provider", 1000.0)])
    stamps = _starts(pacer, 21, threads=8)
    # 21 starts at 40/s need at least 20 intervals of 25 ms, whatever the thread count.
    assert stamps[-1] - stamps[0] >= 20 / 40 * 0.95


def test_two_dispatchers_share_one_rate(make_limiter) -> None:  # noqa: ANN001
    limiter_a, limiter_b = make_limiter(), make_limiter()
    if isinstance(limiter_a, ratelimit.LocalLimiter):
        limiter_b = limiter_a  # in-process: one limiter for every thread of the app
    a = ratelimit.Pacer(limiter_a, [("campaign:2", 50.0)])
    b = ratelimit.Pacer(limiter_b, [("campaign:2", 50.0)])
    stamps: list[float] = []
    runs = [threading.Thread(target=lambda p=p: stamps.extend(_starts(p, 15, threads=4))) for p in (a, b)]
    for t in runs:
        t.start()
    for t in runs:
        t.join()
    stamps.sort()
    assert len(stamps) == 30
    assert stamps[-1] - stamps[0] >= 29 / 50 * 0.95


def test_fast_rates_book_in_chunks_but_never_more_than_the_cap(make_limiter) -> None:  # noqa: ANN001
    pacer = ratelimit.Pacer(make_limiter(), [("campaign:3", 1000.0)], caps=[("campaign:3", 25)])
    assert pacer.chunk == 20
    stamps = _starts(pacer, 60, threads=16)
    # No sliding second holds more than the hard cap (the log is kept by Redis's clock and these
    # stamps by ours, taken a moment after admission: 20 ms of tolerance).
    for i, t in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s - t < 0.98) <= 25
    assert stamps[-1] - stamps[0] >= 2.0 * 0.95  # 60 starts at 25 per second span two seconds


def test_a_429_block_holds_everyone_and_drops_booked_slots(make_limiter) -> None:  # noqa: ANN001
    limiter = make_limiter()
    pacer = ratelimit.Pacer(limiter, [("campaign:4", 10_000.0)])
    other = ratelimit.Pacer(limiter, [("campaign:5", 10_000.0)])
    pacer.acquire()  # books a chunk of slots, all due now
    started = time.monotonic()
    pacer.block(0.4)
    pacer.acquire()  # its booked slots were dropped: it waits like everyone
    assert time.monotonic() - started >= 0.35
    other.acquire()
    assert time.monotonic() - started >= 0.35


def test_the_provider_never_sees_more_than_the_cap_whatever_the_delays(make_limiter) -> None:  # noqa: ANN001
    """Requests held up on their way (a busy machine, the network) must not bunch at the provider:
    each one reaches the 'provider' at a random moment between its admission and its answer."""
    import random

    rng = random.Random(7)
    pacer = ratelimit.Pacer(make_limiter(), [("campaign:6", 40.0 * 0.97)], caps=[("campaign:6", 40)])
    arrivals = _starts(pacer, 120, threads=16,
                       on_the_way=lambda: time.sleep(rng.choice([0.0, 0.0, 0.01, 0.3])),  # sometimes late
                       way_back=lambda: time.sleep(0.02))
    busiest = max(sum(1 for a in arrivals[i:] if a - t < 1.0) for i, t in enumerate(arrivals))
    assert busiest <= 40
    assert len(arrivals) / (arrivals[-1] - arrivals[0]) >= 40 * 0.80  # still close to the cap
