"""One send rate shared by every worker, in Redis (or in this process for the embedded mode).

`reserve` books the next free slots under every limit at once and says how long to wait for the
first (a GCRA: requests spaced evenly). A `Pacer` hands those slots to the sender threads of one
dispatcher, booking a few at a time (about 20 ms worth) so that a fast campaign costs one Redis
round trip per chunk rather than per message. `block` makes everyone wait after a 429.

Hard caps (`admit` / `complete`) make sure the provider never sees more than the cap in any one
second, whatever the network and the machine do to our requests on their way: a request counts
against the cap from the moment it is admitted until one second after its answer came back. The
provider received it somewhere between those two instants, so any one-second window at the
provider holds only requests that all counted at once here, and there are never more than the cap
of those. (Spacing starts alone is not enough: a request held up 200 ms on a busy machine lands in
the next second with the ones sent on time.)
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from core import queue

_RESERVE = """
-- KEYS: one per limit, then the 429 block; ARGV: slots, then one interval per limit
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local n = tonumber(ARGV[1])
local start = math.max(now, tonumber(redis.call('GET', KEYS[#KEYS]) or '0'))
for i = 1, #KEYS - 1 do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > start then start = tat end
end
for i = 1, #KEYS - 1 do
  local tat = start + n * tonumber(ARGV[i + 1])
  redis.call('SET', KEYS[i], tostring(tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
end
return tostring(start - now)
"""
_ADMIT = """
-- KEYS: one sliding log per cap; ARGV: member, seconds an unanswered request counts, then one limit per key
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local wait = 0
for i = 1, #KEYS do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - 1)
  if redis.call('ZCARD', KEYS[i]) >= tonumber(ARGV[2 + i]) then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + 1 - now)
  end
end
if wait > 0 then return tostring(wait) end
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil((tonumber(ARGV[2]) + 2) * 1000))
end
return '0'
"""
_COMPLETE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now, ARGV[1])
end
return 1
"""
_BLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ > current then
  redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
end
return 1
"""


class Limiter(Protocol):
    def reserve(self, limits: list[tuple[str, float]], slots: int = 1, block_key: str = "blocked") -> float: ...
    def admit(self, caps: list[tuple[str, int]], member: str, hold: float) -> float: ...
    def complete(self, caps: list[tuple[str, int]], member: str) -> None: ...
    def block(self, seconds: float, key: str = "blocked") -> None: ...


class RedisLimiter:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._block = client.register_script(_BLOCK)
        self._admit = client.register_script(_ADMIT)
        self._complete = client.register_script(_COMPLETE)

    def reserve(self, limits: list[tuple[str, float]], slots: int = 1, block_key: str = "blocked") -> float:
        keys = [f"rate:{key}" for key, _ in limits] + [f"rate:{block_key}"]
        return max(0.0, float(self._reserve(keys=keys, args=[slots] + [1.0 / rate for _, rate in limits])))

    def admit(self, caps: list[tuple[str, int]], member: str, hold: float) -> float:
        """0 when the request may go (it now counts against every cap), else seconds to wait."""
        keys = [f"window:{key}" for key, _ in caps]
        return max(0.0, float(self._admit(keys=keys, args=[member, hold] + [limit for _, limit in caps])))

    def complete(self, caps: list[tuple[str, int]], member: str) -> None:
        """The answer came back: the request counts one more second, then leaves the window."""
        self._complete(keys=[f"window:{key}" for key, _ in caps], args=[member])

    def block(self, seconds: float, key: str = "blocked") -> None:
        """Everyone booking under `key` waits `seconds` (a 429 of the provider method it stands for)."""
        self._block(keys=[f"rate:{key}"], args=[seconds])


class LocalLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._windows: dict[str, dict[str, float]] = {}  # cap -> member -> time it stops counting - 1 s
        self._blocked: dict[str, float] = {}

    def reserve(self, limits: list[tuple[str, float]], slots: int = 1, block_key: str = "blocked") -> float:
        with self._lock:
            now = time.monotonic()
            start = max([now, self._blocked.get(block_key, 0.0)] + [self._tat.get(key, 0.0) for key, _ in limits])
            for key, rate in limits:
                self._tat[key] = start + slots / rate
            return start - now

    def admit(self, caps: list[tuple[str, int]], member: str, hold: float) -> float:
        with self._lock:
            now = time.monotonic()
            wait = 0.0
            for key, limit in caps:
                window = self._windows.setdefault(key, {})
                for old in [m for m, end in window.items() if end <= now - 1.0]:
                    del window[old]
                if len(window) >= limit:
                    wait = max(wait, min(window.values()) + 1.0 - now)
            if wait > 0:
                return wait
            for key, _ in caps:
                self._windows[key][member] = now + hold
            return 0.0

    def complete(self, caps: list[tuple[str, int]], member: str) -> None:
        with self._lock:
            now = time.monotonic()
            for key, _ in caps:
                window = self._windows.get(key, {})
                if member in window:
                    window[member] = now

    def block(self, seconds: float, key: str = "blocked") -> None:
        with self._lock:
            self._blocked[key] = max(self._blocked.get(key, 0.0), time.monotonic() + seconds)


_local = LocalLimiter()


def limiter() -> Limiter:
    return RedisLimiter(queue.redis_connection()) if queue.uses_redis() else _local


class Cancelled(Exception):
    """The wait for a slot was called off (the campaign was paused or cancelled meanwhile)."""


class Pacer:
    """Send slots for the threads of one dispatcher under `limits` (key, messages per second) and
    hard `caps` (key, requests the provider may see in any one second). Slots are booked from the
    shared limiter about CHUNK_SECONDS at a time and spaced evenly here; a chunk is never more than
    MAX_CHUNK slots. `slot()` wraps one request: it waits for a slot and, under caps, keeps the
    request counted until a second after its answer.

    Slots are numbered. A thread takes the next number and, when it falls inside the booked chunk,
    computes its time without any lock (`itertools.count` and reading a tuple are atomic): 32
    threads queueing on a lock, each giving up and taking back the interpreter, cost a sender more
    than its own request. Only the number past the chunk books the next one, under the lock."""

    CHUNK_SECONDS = 0.02
    MAX_CHUNK = 256  # reached only above 12,800/s, i.e. with no hard cap (caps are at most 1,000/s)
    MAX_PAUSE = 0.05  # a waiting thread looks again this often (answers free the cap early)

    def __init__(self, lim: Limiter, limits: list[tuple[str, float]], caps: list[tuple[str, int]] | None = None,
                 hold: float = 60.0, block_key: str = "blocked"):
        self.limiter = lim
        self.block_key = block_key  # a 429 blocks only the pacers sharing this key (one provider method)
        self.limits = limits
        self.caps = caps or []
        self.hold = hold  # an unanswered request stops counting after this (a dead worker's, say)
        rate = min(r for _, r in limits)
        self.spacing = 1.0 / rate
        self.chunk = max(1, min(self.MAX_CHUNK, int(rate * self.CHUNK_SECONDS)))
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._booked = (0, 0, 0.0)  # slots numbered [first, end) start at `start`, `spacing` apart
        self._recent: deque[tuple[int, int, float]] = deque(maxlen=64)  # the last chunks booked

    def _slot_time(self) -> float:
        """When this thread's next slot starts (time.monotonic)."""
        while True:
            number = next(self._numbers)
            first, end, start = self._booked
            if first <= number < end:
                return start + (number - first) * self.spacing
            with self._lock:
                while True:
                    # A thread held up between taking its number and reading `_booked` finds its
                    # chunk among the recent ones: a booked slot is never lost.
                    for first, end, start in reversed(self._recent):
                        if first <= number < end:
                            return start + (number - first) * self.spacing
                    first, end, _ = self._booked
                    if number < end:
                        break  # its slot was dropped after a 429 (see `block`): take a new number
                    # Book the next chunk, numbered on from the last one (threads with later numbers
                    # may get here first: chunks are booked in order all the same).
                    start = time.monotonic() + self.limiter.reserve(self.limits, self.chunk, self.block_key)
                    self._booked = (end, end + self.chunk, start)
                    self._recent.append(self._booked)

    def acquire(self, cancel: threading.Event | None = None) -> str | None:
        """Wait for this thread's slot; returns the ticket to `complete` when the request is answered
        (None without caps). Raises `Cancelled` as soon as `cancel` is set while waiting."""
        at = self._slot_time()
        self._sleep(max(0.0, at - time.monotonic()), cancel)
        if not self.caps:
            return None
        ticket = uuid.uuid4().hex
        while (pause := self.limiter.admit(self.caps, ticket, self.hold)) > 0:
            # Up to a second: when the oldest answered request leaves the window, exactly. More: every
            # request counted is still unanswered, and one may be answered any moment.
            self._sleep(pause if pause <= 1.0 else self.MAX_PAUSE, cancel)
        return ticket

    @staticmethod
    def _sleep(seconds: float, cancel: threading.Event | None) -> None:
        if cancel is None:
            if seconds > 0:
                time.sleep(seconds)
        elif cancel.is_set() or (seconds > 0 and cancel.wait(seconds)):
            raise Cancelled

    def complete(self, ticket: str | None) -> None:
        if ticket is not None:
            self.limiter.complete(self.caps, ticket)

    @contextmanager
    def slot(self, cancel: threading.Event | None = None) -> Iterator[None]:
        ticket = self.acquire(cancel)
        try:
            yield
        finally:
            self.complete(ticket)

    def block(self, seconds: float) -> None:
        """The provider said 429: everyone waits, and slots booked before it are dropped."""
        self.limiter.block(seconds, self.block_key)
        with self._lock:
            after = next(self._numbers) + 1  # every number taken so far must book anew
            self._booked = (after, after, 0.0)
            self._recent.clear()
