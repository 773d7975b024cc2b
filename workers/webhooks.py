"""The webhook receiver: `python -m workers.webhooks [--host H] [--port P]`.

`POST /webhooks/respondio` checks the signature, then makes the event durable before it answers
200: events arriving together are written to the database in one transaction, and every request
waits for its batch's commit. If the database cannot be reached, events go to a spool (a Redis list,
or a file under `data/spool/` without Redis) and are moved to the database when it is back. Only
when neither can take the event does the receiver answer 503, so that Respond.io tries again.
A worker applies stored events (`workers.inbound.drain`). `GET /healthz`, `GET /metrics`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core import db, inbound, metrics, queue
from core.config import get_settings
from core.logs import setup_logging
from workers.inbound import request_drain

log = logging.getLogger(__name__)
MAX_BATCH = 1000
SPOOL_KEY = "webhooks:spool"
PROCESSING_KEY = "webhooks:spool:processing"  # entries being stored; removed one by one once stored
SPOOL_BATCH = 500
# Up to N entries from the spool's head to the processing list, in one atomic step: an entry is
# always in one of the two lists until it is stored.
_TAKE = """
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local item = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not item then break end
  out[#out + 1] = item
end
return out
"""
# Stored: each entry leaves the processing list once (another mover may have stored it too).
_ACK = """
for i = 1, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end
return #ARGV
"""

REQUESTS = Counter("cnss_webhook_requests_total", "Webhook requests by outcome", ["result"])
STORE_SECONDS = Histogram("cnss_webhook_store_seconds", "Time to write one batch of events durably",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
BATCH_SIZE = Histogram("cnss_webhook_batch_size", "Events per durable write",
                       buckets=(1, 5, 10, 50, 100, 250, 500, 1000))
SPOOLED = Gauge("cnss_webhook_spooled_events", "Events waiting in the spool for the database")
PENDING = Gauge("cnss_inbound_events_pending", "Stored events not yet applied")


class Spool:
    """Where events wait while the database is away: a Redis list shared by every receiver, or
    without Redis a file of this process (fsynced before the 200)."""

    def __init__(self) -> None:
        settings = get_settings()
        spool_url = settings.webhook_spool_redis_url or settings.redis_url
        self.redis = queue.redis_connection(spool_url) if spool_url else None
        self.dir = get_settings().data_dir / "spool"
        self.path = self.dir / f"webhooks-{os.getpid()}.jsonl"
        self._lock = threading.Lock()

    def put(self, events: list[inbound.Event]) -> None:
        lines = [json.dumps({"event_id": e.event_id, "event_type": e.event_type, "payload": e.payload})
                 for e in events]
        if self.redis is not None:
            self.redis.rpush(SPOOL_KEY, *lines)
            return
        with self._lock:
            self.dir.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
                f.flush()
                os.fsync(f.fileno())

    def size(self) -> int:
        if self.redis is not None:
            return int(self.redis.llen(SPOOL_KEY)) + int(self.redis.llen(PROCESSING_KEY))
        return sum(sum(1 for _ in p.open(encoding="utf-8")) for p in self._files())

    def _files(self) -> list[Path]:
        if not self.dir.exists():
            return []
        out = []
        for path in self.dir.glob("webhooks-*.jsonl"):
            pid = int(path.stem.split("-")[1])
            if pid == os.getpid() or not _alive(pid):  # never another live receiver's file
                out.append(path)
        return out

    def move_to_database(self, lock_seconds: float = 60.0) -> int:
        """Store what waits in the spool; returns how many events were moved. Entries move atomically
        to a processing list and leave it only once stored, so that two receivers moving at once (a
        lock that expired under one of them) can neither lose an entry nor store one twice."""
        moved = 0
        if self.redis is not None:
            lock = queue.acquire("webhook-spool", ttl=lock_seconds)
            if lock is None:
                return 0
            try:
                while True:
                    # What a mover that died left half-way first: storing twice stores once (event ids).
                    lines = self.redis.lrange(PROCESSING_KEY, 0, SPOOL_BATCH - 1) or \
                        self.redis.eval(_TAKE, 2, SPOOL_KEY, PROCESSING_KEY, SPOOL_BATCH)
                    if not lines:
                        break
                    _store([_event(json.loads(line)) for line in lines])
                    self.redis.eval(_ACK, 1, PROCESSING_KEY, *lines)
                    moved += len(lines)
                    if not lock.renew():  # someone else moves the spool now: nothing lost, stop here
                        break
            finally:
                lock.release()
            return moved
        with self._lock:
            for path in self._files():
                lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                _store([_event(json.loads(line)) for line in lines])
                path.unlink()
                moved += len(lines)
        return moved


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _event(data: dict[str, Any]) -> inbound.Event:
    return inbound.Event(data["event_id"], data["event_type"], data["payload"])


def _store(events: list[inbound.Event]) -> int:
    """Store a batch durably. If the database refuses it while it answers (a value it cannot hold),
    each event is tried alone and the ones it still refuses are set aside as dead letters, so that one
    bad event never holds back the others nor makes the spool retry it forever."""
    try:
        with db.session_scope() as session:
            return inbound.store(session, events)
    except Exception as err:
        if _connection_trouble(err) or not _database_answers():
            raise  # the database is away: the caller spools, and tries again later
        log.warning("The database refused a batch of %d webhook events (%s): storing them one by one",
                    len(events), type(err).__name__)
    stored = 0
    for event in events:
        try:
            with db.session_scope() as session:
                stored += inbound.store(session, [event])
        except Exception as err:  # noqa: BLE001 - refused alone too: set aside, visible to administrators
            if _connection_trouble(err):
                raise  # not the event's fault: spooled, tried again later
            with db.session_scope() as session:
                stored += inbound.store_unstorable(session, event, err)
    return stored


def _connection_trouble(err: Exception) -> bool:
    """The database went away (a restart, a failover), as opposed to refusing a value."""
    return isinstance(err, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)) or \
        bool(getattr(err, "connection_invalidated", False))


def _database_answers() -> bool:
    try:
        with db.session_scope() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


class Batcher:
    """Requests hand their event to one writer task; events that arrive together are written in one
    transaction (in a thread, off the event loop), and each request learns when its own is durable."""

    def __init__(self, spool: Spool, max_wait: float) -> None:
        self.spool = spool
        self.max_wait = max_wait
        self.queue: asyncio.Queue[tuple[inbound.Event, asyncio.Future[str]]] = asyncio.Queue()
        self.database_up = True

    async def submit(self, event: inbound.Event) -> str:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        await self.queue.put((event, future))
        return await future

    async def run(self) -> None:
        while True:
            items = [await self.queue.get()]
            if self.queue.empty() and self.max_wait > 0:
                await asyncio.sleep(self.max_wait)
            while len(items) < MAX_BATCH and not self.queue.empty():
                items.append(self.queue.get_nowait())
            outcome = await asyncio.to_thread(self._write, [e for e, _ in items])
            for _, future in items:
                if not future.done():
                    future.set_result(outcome)

    def _write(self, events: list[inbound.Event]) -> str:
        started = time.perf_counter()
        try:
            _store(events)
        except Exception as err:  # noqa: BLE001 - the database is away: spool, never lose
            if self.database_up:
                log.error("Database unavailable for webhooks (%s): spooling events", type(err).__name__)
            self.database_up = False
            try:
                self.spool.put(events)
            except Exception:
                log.exception("Spool unavailable too: %d webhook events refused with 503", len(events))
                return "unavailable"
            SPOOLED.inc(len(events))
            return "spooled"
        STORE_SECONDS.observe(time.perf_counter() - started)
        BATCH_SIZE.observe(len(events))
        if not self.database_up:
            log.warning("Database reachable again for webhooks")
            self.database_up = True
        try:
            request_drain()
        except Exception as err:  # noqa: BLE001 - the scheduler asks again while events wait
            log.warning("Could not queue the inbound drain: %s", err)
        return "stored"

    async def watch_spool(self) -> None:
        """Every second: move spooled events to the database once it answers again."""
        while True:
            await asyncio.sleep(1.0)
            try:
                moved = await asyncio.to_thread(self.spool.move_to_database)
            except Exception as err:  # noqa: BLE001
                log.debug("Spool not moved yet: %s", err)
                continue
            if moved:
                log.warning("%d spooled webhook events moved to the database", moved)
                SPOOLED.set(0)
                self.database_up = True
                await asyncio.to_thread(_request_drain_quietly)


def _request_drain_quietly() -> None:
    try:
        request_drain()
    except Exception as err:  # noqa: BLE001
        log.warning("Could not queue the inbound drain: %s", err)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None as soon as it grows past `limit`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit():
        return None if int(declared) > limit else await request.body()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


OK = b'{"status":"ok"}'
OUTCOMES = {name: REQUESTS.labels(name) for name in ("stored", "spooled", "unavailable", "unauthorized",
                                                     "bad_request", "too_large")}


def create_app() -> Starlette:
    settings = get_settings()
    secrets = settings.webhook_secrets
    limit = settings.webhook_max_body_bytes
    state: dict[str, Batcher] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if not secrets:
            log.error("RESPONDIO_WEBHOOK_SECRETS is empty: every webhook will be refused (401)")
        batcher = Batcher(Spool(), settings.webhook_batch_max_wait_ms / 1000.0)
        state["batcher"] = batcher
        tasks = [asyncio.create_task(batcher.run()), asyncio.create_task(batcher.watch_spool())]
        log.info("Webhook receiver ready (%d signing key(s))", len(secrets))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()

    async def receive(request: Request) -> Response:
        body = await _read_body(request, limit)
        if body is None:
            OUTCOMES["too_large"].inc()
            metrics.WEBHOOK_EVENTS.labels("none", "too_large").inc()
            log.warning("Webhook refused: body larger than %d bytes", limit)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        if not inbound.verify_signature(body, request.headers.get("x-webhook-signature"), secrets):
            OUTCOMES["unauthorized"].inc()
            metrics.WEBHOOK_EVENTS.labels("none", "wrong_signature" if request.headers.get("x-webhook-signature")
                                          else "missing_signature").inc()
            log.warning("Webhook refused: %s signature from %s",
                        "wrong" if request.headers.get("x-webhook-signature") else "missing",
                        request.client.host if request.client else "?")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        try:
            event = inbound.parse(body)
        except inbound.InvalidEvent as err:
            OUTCOMES["bad_request"].inc()
            metrics.WEBHOOK_EVENTS.labels("none", "malformed").inc()
            log.warning("Webhook refused: %s", err)
            return JSONResponse({"error": str(err)}, status_code=400)
        metrics.WEBHOOK_EVENTS.labels(metrics.event_type_label(event.event_type), "valid").inc()
        outcome = await state["batcher"].submit(event)
        OUTCOMES[outcome].inc()
        if outcome == "unavailable":
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503, headers={"Retry-After": "5"})
        return Response(OK, media_type="application/json")

    async def healthz(request: Request) -> Response:
        batcher = state.get("batcher")
        up = batcher is not None and batcher.database_up
        return JSONResponse({"status": "ok" if up else "degraded", "database": up}, status_code=200)

    async def metrics_endpoint(request: Request) -> Response:
        def pending() -> int | None:
            try:
                with db.session_scope() as session:
                    return inbound.pending_count(session)
            except Exception:  # noqa: BLE001
                return None

        count = await asyncio.to_thread(pending)
        if count is not None:
            PENDING.set(count)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/webhooks/respondio", receive, methods=["POST"]),
                             Route("/healthz", healthz), Route("/metrics", metrics_endpoint)], lifespan=lifespan)


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m workers.webhooks", description="Respond.io webhook receiver")
    parser.add_argument("--host", default=settings.webhook_host)
    parser.add_argument("--port", type=int, default=settings.webhook_port)
    return parser


def main(argv: list[str] | None = None) -> None:
    # Here, not at the top: the HTTP server only when the receiver is started.
    import uvicorn

    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        db.ensure_schema()
    except Exception as err:  # noqa: BLE001 - the receiver starts anyway and spools until the database is back
        log.error("Database not reachable at start (%s): events will be spooled", type(err).__name__)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
