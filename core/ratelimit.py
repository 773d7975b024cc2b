"""One send rate shared by every worker: a GCRA in Redis (or in this process for the embedded mode).

`reserve` books the next free slot and says how long to wait for it, so requests are spaced evenly
and no one-second window holds more than the rate. `block` makes everyone wait after a 429.
"""

from __future__ import annotations

import threading
import time
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
    def block(self, seconds: float) -> None: ...


class RedisLimiter:
    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self._reserve = client.register_script(_RESERVE)
        self._block = client.register_script(_BLOCK)

    def reserve(self, key: str, rate: float) -> float:
        return max(0.0, float(self._reserve(keys=[f"rate:{key}", "rate:blocked"], args=[1.0 / rate])))

    def block(self, seconds: float) -> None:
        self._block(keys=["rate:blocked"], args=[seconds])


class LocalLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tat: dict[str, float] = {}
        self._blocked = 0.0

    def reserve(self, key: str, rate: float) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, 0.0), now, self._blocked)
            self._tat[key] = tat + 1.0 / rate
            return tat - now

    def block(self, seconds: float) -> None:
        with self._lock:
            self._blocked = max(self._blocked, time.monotonic() + seconds)


_local = LocalLimiter()


def limiter() -> Limiter:
    from core import queue

    return RedisLimiter(queue.redis_connection()) if queue.uses_redis() else _local


def acquire(lim: Limiter, keys_and_rates: list[tuple[str, float]]) -> float:
    """Book a slot under every limit that applies, wait for the latest, return the seconds waited."""
    delay = max(lim.reserve(key, rate) for key, rate in keys_and_rates)
    if delay > 0:
        time.sleep(delay)
    return delay
