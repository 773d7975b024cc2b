"""Background jobs: RQ on Redis when `REDIS_URL` is set, otherwise a thread pool in this process.

Job functions are plain importable functions that open and close their own database session,
so the same function runs under an RQ worker or in the app's background thread.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from core.config import get_settings

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


_clients: dict[tuple[str, int], Any] = {}


def redis_connection(url: str | None = None):  # type: ignore[no-untyped-def]
    """One client (and its connection pool) per URL and process: a forked worker makes its own."""
    # Here, not at the top: redis is loaded only when a Redis URL is set.
    from redis import Redis

    url = url or get_settings().redis_url
    if not url:
        raise RuntimeError("REDIS_URL is not set: the in-process runner is in use")
    key = (url, os.getpid())
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    return client


def uses_redis() -> bool:
    return get_settings().redis_url is not None


def _in_process_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cnss-job")
        return _pool


def _run_logged(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception:
        log.exception("Background job %s failed", getattr(func, "__name__", func))
        raise


def resolve(func: Callable[..., Any] | str) -> Callable[..., Any]:
    """A job given by its dotted path (`workers.dispatch.dispatch_campaign`) or as a function. Paths
    keep core free of imports from workers/ while core still decides what runs in the background."""
    if callable(func):
        return func
    module, _, name = func.rpartition(".")
    job: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return job


def enqueue(func: Callable[..., Any] | str, *args: Any, queue: str = DEFAULT_QUEUE,
            job_id: str | None = None, job_timeout: int | None = None, **kwargs: Any) -> Any:
    """Run `func(*args, **kwargs)` in the background; returns an RQ job or a Future."""
    if uses_redis():
        # Here, not at the top: rq is loaded only with Redis: the embedded mode never needs it.
        from rq import Queue

        return Queue(queue, connection=redis_connection()).enqueue(
            func,  # type: ignore[type-var]  # rq takes a dotted path as well as a function
            *args, job_id=job_id, job_timeout=job_timeout, **kwargs)
    future: Future[Any] = _in_process_pool().submit(_run_logged, resolve(func), args, kwargs)
    with _pool_lock:
        _running[future] = func if isinstance(func, str) else f"{func.__module__}.{func.__name__}"
    future.add_done_callback(_forget_future)
    return future


_running: dict[Future[Any], str] = {}


def _forget_future(future: Future[Any]) -> None:
    with _pool_lock:
        _running.pop(future, None)


def wait_in_process(name: str, timeout: float = 30.0) -> bool:
    """Wait for the in-process jobs of this name queued so far; True if all ended (tests)."""
    with _pool_lock:
        pending = {f for f, job in _running.items() if job == name}
    return not wait(pending, timeout=timeout).not_done if pending else True


# --- liveness and locks, shared by every process when Redis is used ---------------------------

_local_keys: dict[str, float] = {}
_local_lock = threading.Lock()


def heartbeat(key: str, ttl: float) -> None:
    if uses_redis():
        redis_connection().set(f"hb:{key}", "1", px=int(ttl * 1000))
        return
    with _local_lock:
        _local_keys[key] = time.monotonic() + ttl


def alive(key: str) -> bool:
    if uses_redis():
        return bool(redis_connection().exists(f"hb:{key}"))
    with _local_lock:
        return _local_keys.get(key, 0.0) > time.monotonic()


def forget(key: str) -> None:
    if uses_redis():
        redis_connection().delete(f"hb:{key}")
        return
    with _local_lock:
        _local_keys.pop(key, None)


def try_lock(name: str, ttl: float) -> bool:
    """True for the one caller that takes the flag; it expires by itself after `ttl` seconds. A flag
    has no owner (anyone may `release` it): for "at most once every ttl" and "one job waits"; work
    that must not run twice at once takes an owned lock (`acquire`)."""
    if uses_redis():
        return bool(redis_connection().set(f"lock:{name}", "1", nx=True, px=int(ttl * 1000)))
    with _local_lock:
        now = time.monotonic()
        if _local_keys.get(f"lock:{name}", 0.0) > now:
            return False
        _local_keys[f"lock:{name}"] = now + ttl
        return True


def release(name: str) -> None:
    if uses_redis():
        redis_connection().delete(f"lock:{name}")
        return
    with _local_lock:
        _local_keys.pop(f"lock:{name}", None)


# --- locks with an owner ------------------------------------------------------------------------

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lock:
    """A lock held by one caller, known by a token: only its holder renews or releases it, so a
    holder whose lock expired (a long pause, say) can never take away the next holder's."""

    def __init__(self, name: str, token: str, ttl: float) -> None:
        self.name, self.token, self.ttl = name, token, ttl

    def renew(self) -> bool:
        """Extend the lock by its ttl; False when it is no longer ours (stop what it guards)."""
        if uses_redis():
            return bool(redis_connection().eval(_RENEW, 1, f"lock:{self.name}", self.token, int(self.ttl * 1000)))
        with _local_lock:
            token, expires = _local_owned.get(self.name, ("", 0.0))
            if token != self.token or expires <= time.monotonic():
                return False
            _local_owned[self.name] = (token, time.monotonic() + self.ttl)
            return True

    def release(self) -> bool:
        if uses_redis():
            return bool(redis_connection().eval(_RELEASE, 1, f"lock:{self.name}", self.token))
        with _local_lock:
            if _local_owned.get(self.name, ("", 0.0))[0] != self.token:
                return False
            del _local_owned[self.name]
            return True


_local_owned: dict[str, tuple[str, float]] = {}


def acquire(name: str, ttl: float) -> Lock | None:
    """The lock `name` for `ttl` seconds, or None when someone else holds it."""
    token = uuid.uuid4().hex
    if uses_redis():
        taken = redis_connection().set(f"lock:{name}", token, nx=True, px=int(ttl * 1000))
        return Lock(name, token, ttl) if taken else None
    with _local_lock:
        now = time.monotonic()
        if _local_owned.get(name, ("", 0.0))[1] > now:
            return None
        _local_owned[name] = (token, now + ttl)
        return Lock(name, token, ttl)


_embedded: threading.Thread | None = None


def start_embedded_scheduler(tick: str, interval: float) -> bool:
    """The embedded mode's scheduler: a daemon thread calling `tick` every `interval` seconds.
    Started once per process; with Redis, the RQ workers run the scheduler instead."""
    global _embedded
    with _pool_lock:
        if uses_redis() or (_embedded is not None and _embedded.is_alive()):
            return False
        function = resolve(tick)

        def loop() -> None:
            while True:
                try:
                    function()
                except Exception:
                    log.exception("Scheduler tick failed")
                time.sleep(interval)

        _embedded = threading.Thread(target=loop, name="cnss-scheduler", daemon=True)
        _embedded.start()
        return True


def embedded_scheduler_alive() -> bool:
    return _embedded is not None and _embedded.is_alive()


def queue_depth(queue: str = DEFAULT_QUEUE) -> int | None:
    """Jobs waiting in a Redis queue; None for the in-process runner."""
    if not uses_redis():
        return None
    # Here, not at the top: rq is loaded only with Redis: the embedded mode never needs it.
    from rq import Queue

    return len(Queue(queue, connection=redis_connection()))


def ping_redis() -> bool:
    if not uses_redis():
        return False
    try:
        return bool(redis_connection().ping())
    except Exception:
        log.warning("Redis did not answer")
        return False
