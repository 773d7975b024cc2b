"""One send rate shared by every worker, in Redis (or in this process for the embedded mode).

`reserve` books the next free slot and says how long to wait for it (a GCRA: requests spaced
evenly). `admit` is the last word just before a request goes out: a sliding log of the starts of
the last second, so that no second ever holds more than the cap even when a late thread would
bunch with the next ones. `block` makes everyone wait after a 429.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Protocol

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local blocked = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat < now then tat = now end
if tat < blocked then tat = blocked end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return tostring(tat - now)
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
    def reserve(self, key: str, rate: float) -> float: ...
    def admit(self, key: str, limit: int) -> float: ...
    def block(self, seconds: float) -> None: ...


class RedisLimiter:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._block = client.register_script(_BLOCK)
        self._admit = client.register_script(_ADMIT)

    def reserve(self, key: str, rate: float) -> float:
        return max(0.0, float(self._reserve(keys=[f"rate:{key}", "rate:blocked"], args=[1.0 / rate])))

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

    def reserve(self, key: str, rate: float) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, 0.0), now, self._blocked)
            self._tat[key] = tat + 1.0 / rate
            return tat - now

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


def acquire(lim: Limiter, keys_and_rates: list[tuple[str, float]], caps: list[tuple[str, int]] | None = None) -> float:
    """Book a slot under every limit that applies and wait for it; then, for each hard cap, wait
    until the last second holds room for one more start. Returns the seconds waited."""
    waited = max(lim.reserve(key, rate) for key, rate in keys_and_rates)
    if waited > 0:
        time.sleep(waited)
    for key, limit in caps or []:
        while (pause := lim.admit(key, limit)) > 0:
            time.sleep(pause)
            waited += pause
    return waited
