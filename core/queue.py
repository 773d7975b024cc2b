"""Background jobs: RQ on Redis when `REDIS_URL` is set, otherwise a thread pool in this process.

Job functions are plain importable functions that open and close their own database session,
so the same function runs under an RQ worker or in the app's background thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from core.config import get_settings

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def redis_connection(url: str | None = None):  # type: ignore[no-untyped-def]
    from redis import Redis

    url = url or get_settings().redis_url
    if not url:
        raise RuntimeError("REDIS_URL is not set: the in-process runner is in use")
    return Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


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


def enqueue(func: Callable[..., Any], *args: Any, queue: str = DEFAULT_QUEUE,
            job_id: str | None = None, **kwargs: Any) -> Any:
    """Run `func(*args, **kwargs)` in the background; returns an RQ job or a Future."""
    if uses_redis():
        from rq import Queue

        return Queue(queue, connection=redis_connection()).enqueue(func, *args, job_id=job_id, **kwargs)
    future: Future[Any] = _in_process_pool().submit(_run_logged, func, args, kwargs)
    return future


def queue_depth(queue: str = DEFAULT_QUEUE) -> int | None:
    """Jobs waiting in a Redis queue; None for the in-process runner."""
    if not uses_redis():
        return None
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
