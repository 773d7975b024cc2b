"""One send rate shared by every worker, in Redis (or in this process for the embedded mode).

`reserve` books the next free slots under every limit at once and says how long to wait for the
first (a GCRA: requests spaced evenly). A `Pacer` hands those slots to the sender threads of one
dispatcher, booking a few at a time (about 20 ms worth) so that a fast campaign costs one Redis
round trip per chunk rather than per message. `admit` is the last word just before a request goes out: a sliding log of the starts of
the last second, so that no second ever holds more than the cap even when a late thread would
bunch with the next ones. `block` makes everyone wait after a 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

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
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local limit = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 1)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[2])
  redis.call('PEXPIRE', KEYS[1], 2000)
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + 1 - now)
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
    def reserve(self, limits: list[tuple[str, float]], slots: int = 1) -> float: ...
    def admit(self, key: str, limit: int) -> float: ...
    def block(self, seconds: float) -> None: ...


class RedisLimiter:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._block = client.register_script(_BLOCK)
        self._admit = client.register_script(_ADMIT)

    def reserve(self, limits: list[tuple[str, float]], slots: int = 1) -> float:
        keys = [f"rate:{key}" for key, _ in limits] + ["rate:blocked"]
        return max(0.0, float(self._reserve(keys=keys, args=[slots] + [1.0 / rate for _, rate in limits])))

    def admit(self, key: str, limit: int) -> float:
        import uuid

        return max(0.0, float(self._admit(keys=[f"window:{key}"], args=[limit, uuid.uuid4().hex])))

    def block(self, seconds: float) -> None:
        self._block(keys=["rate:blocked"], args=[seconds])


class LocalLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._starts: dict[str, deque[float]] = {}
        self._blocked = 0.0

    def reserve(self, limits: list[tuple[str, float]], slots: int = 1) -> float:
        with self._lock:
            now = time.monotonic()
            start = max([now, self._blocked] + [self._tat.get(key, 0.0) for key, _ in limits])
            for key, rate in limits:
                self._tat[key] = start + slots / rate
            return start - now

    def admit(self, key: str, limit: int) -> float:
        with self._lock:
            now = time.monotonic()
            starts = self._starts.setdefault(key, deque())
            while starts and starts[0] <= now - 1.0:
                starts.popleft()
            if len(starts) < limit:
                starts.append(now)
                return 0.0
            return starts[0] + 1.0 - now

    def block(self, seconds: float) -> None:
        with self._lock:
            self._blocked = max(self._blocked, time.monotonic() + seconds)


_local = LocalLimiter()


def limiter() -> Limiter:
    from core import queue

    return RedisLimiter(queue.redis_connection()) if queue.uses_redis() else _local


class Pacer:
    """Send slots for the threads of one dispatcher under `limits` (key, messages per second) and
    hard `caps` (key, starts per sliding second). Slots are booked from the shared limiter about
    CHUNK_SECONDS at a time and spaced evenly here; a chunk is never more than MAX_CHUNK slots."""

    CHUNK_SECONDS = 0.02
    MAX_CHUNK = 32

    def __init__(self, lim: Limiter, limits: list[tuple[str, float]], caps: list[tuple[str, int]] | None = None):
        self.limiter = lim
        self.limits = limits
        self.caps = caps or []
        rate = min(r for _, r in limits)
        self.spacing = 1.0 / rate
        self.chunk = max(1, min(self.MAX_CHUNK, int(rate * self.CHUNK_SECONDS)))
        self._lock = threading.Lock()
        self._next = 0.0
        self._left = 0

    def acquire(self) -> float:
        """Wait for this thread's slot; returns the seconds waited."""
        with self._lock:
            if self._left == 0:
                self._next = time.monotonic() + self.limiter.reserve(self.limits, self.chunk)
                self._left = self.chunk
            at = self._next
            self._next += self.spacing
            self._left -= 1
        waited = max(0.0, at - time.monotonic())
        if waited > 0:
            time.sleep(waited)
        for key, limit in self.caps:
            while (pause := self.limiter.admit(key, limit)) > 0:
                time.sleep(pause)
                waited += pause
        return waited

    def block(self, seconds: float) -> None:
        """The provider said 429: everyone waits, and slots booked before it are dropped."""
        self.limiter.block(seconds)
        with self._lock:
            self._left = 0
