"""Benchmark: a burst of signed status webhooks for existing ledger rows, posted to the receiver
(`python -m workers.webhooks`, its own process) on loopback by a concurrent keep-alive client;
RQ workers (`python -m workers`) apply them from PostgreSQL.

Among them, a share of inbound "STOP" messages from other people (`--stops`, 5 % by default): each
opts its sender out and is confirmed through the outbox, sent after commit by the workers to the fake
Respond.io server (its own process, on loopback).

Prints events/s accepted (every answer a 200, each one after its event was committed), the time
until all are applied, the ratio of accepted events/s to a bare endpoint of the same framework
(Starlette under uvicorn, one process, answering 200 and nothing else) measured in the same run
with the same client, and the outbox's send latency (decision to acceptance by the provider,
p50/p95) with the count of confirmations the provider received (one per STOP).

    .venv/bin/python -m bench.webhooks [--events 50000] [--concurrency 64] [--workers 2] [--stops 0.05]
Target (issue #6): at least 3,000 events/s accepted and applied on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.campaign_dispatch import CHANNEL, TEMPLATE, TOKEN, start_fake
from bench.common import fresh_database
from core import db, inbound, templates
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-key"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)

BARE_APP = """
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def ok(request):
    await request.body()
    return JSONResponse({"status": "ok"})

app = Starlette(routes=[Route("/webhooks/respondio", ok, methods=["POST"])])
"""


def seed(url: str, messages: int) -> None:
    """`messages` sent ledger rows, each with a provider message id, written set-based."""
    with db.session_scope(url) as session:
        template = templates.save(session, TEMPLATE)
        session.execute(text(
            "INSERT INTO contacts (phone, first_name, language, attributes, consent_status, search_text, created_at, "
            "updated_at) SELECT '+2416' || lpad(i::text, 7, '0'), 'P' || i, 'fr', '{}'::jsonb, 'opted_in', '', now(), "
            "now() FROM generate_series(1, :n) i"), {"n": messages})
        campaign_id = session.execute(text(
            "INSERT INTO campaigns (name, template_id, variable_mapping, include_segment_ids, exclude_segment_ids, "
            "status, total_recipients, created_at, updated_at) VALUES ('bench webhooks', :t, '{}', '[]', '[]', "
            "'running', :n, now(), now()) RETURNING id"), {"t": template.id, "n": messages}).scalar_one()
        session.execute(text(
            "INSERT INTO recipients (campaign_id, contact_id, phone, parameters, status, attempts, "
            "provider_message_id, sent_at, created_at, updated_at) "
            "SELECT :c, id, phone, '{}', 'sent', 1, 'bm' || id, now(), now(), now() FROM contacts"), {"c": campaign_id})


def requests_for(messages: int, per_message: int, stops: float = 0.0) -> list[bytes]:
    """Signed HTTP/1.1 requests: for each message, delivered then read (then more reads if asked);
    every 1/`stops`-th request, also a STOP from someone else."""
    out = []
    now = time.time()
    values = ["delivered", "read", "read"][:per_message]
    every = round(1 / stops) if stops > 0 else 0
    for i in range(1, messages + 1):
        for n, value in enumerate(values):
            out.append(_signed({"event_id": f"ev-{i}-{n}", "event_type": "message.sent",
                                "message": {"messageId": f"bm{i}", "traffic": "outgoing",
                                            "status": [{"value": value, "timestamp": int((now + n) * 1000)}]}}))
            if every and len(out) % every == 0:
                k = len(out) // every
                out.append(_signed({"event_id": f"stop-{k}", "event_type": "message.received",
                                    "contact": {"phone": f"+24177{k:06d}", "firstName": f"S{k}"},
                                    "message": {"messageId": f"in-{k}", "timestamp": int(now * 1000),
                                                "message": {"type": "text", "text": "STOP"}}}))
    return out


def _signed(payload: dict) -> bytes:
    body = json.dumps(payload, separators=(",", ":")).encode()
    head = (f"POST /webhooks/respondio HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"X-Webhook-Signature: {inbound.sign(body, SECRET)}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _blast(port: int, requests: list[bytes], concurrency: int) -> tuple[float, Counter]:
    """Keep-alive connections, each sending its next request as soon as the previous is answered."""
    statuses: Counter = Counter()
    position = 0

    async def connection() -> None:
        nonlocal position
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while position < len(requests):
            request = requests[position]
            position += 1
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            match = _LENGTH.search(head)
            await reader.readexactly(int(match.group(1)) if match else 0)
            statuses[int(head[9:12])] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - started, statuses


def blast(port: int, requests: list[bytes], concurrency: int) -> tuple[float, Counter]:
    try:
        import uvloop

        return uvloop.run(_blast(port, requests, concurrency))
    except ImportError:
        return asyncio.run(_blast(port, requests, concurrency))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and its waited-for children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def wait_http(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def bare_endpoint(requests: list[bytes], concurrency: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-bare-"))
    (folder / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--log-level",
                             "warning", "--no-access-log"], cwd=folder)
    try:
        wait_http(f"http://127.0.0.1:{port}/")
        seconds, statuses = blast(port, requests, concurrency)
        assert statuses == Counter({200: len(requests)}), statuses
        return len(requests) / seconds
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stops", type=float, default=0.05, help="share of events that are a STOP message")
    args = parser.parse_args()
    messages = round(args.events / (2 * (1 + args.stops)))
    requests = requests_for(messages, 2, args.stops)
    stop_count = sum(1 for r in requests if b'"message.received"' in r)
    fake, fake_base = start_fake(0.0)
    with fresh_database() as url:
        seed(url, messages)
        from redis import Redis

        redis_url = "redis://127.0.0.1:6379/12"
        Redis.from_url(redis_url).flushdb()
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "RESPONDIO_WEBHOOK_SECRETS": SECRET,
               "LOG_LEVEL": "WARNING", "STATUS_POLL_DELAY_SECONDS": "100000", "SCHEDULER_INTERVAL_SECONDS": "1",
               "RESPONDIO_API_TOKEN": TOKEN, "RESPONDIO_BASE_URL": f"{fake_base}/v2",
               "RESPONDIO_CHANNEL_ID": str(CHANNEL), "MAX_SEND_RATE": "1000"}
        port = free_port()
        logs = Path(tempfile.mkdtemp(prefix="bench-webhooks-"))
        receiver = subprocess.Popen([sys.executable, "-m", "workers.webhooks", "--host", "127.0.0.1", "--port",
                                     str(port)], cwd=ROOT, env=env, stdout=(logs / "receiver.log").open("w"),
                                    stderr=subprocess.STDOUT)
        workers = [subprocess.Popen([sys.executable, "-m", "workers"] + ([] if i == 0 else ["--no-scheduler"]),
                                    cwd=ROOT, env=env, stdout=(logs / f"worker{i}.log").open("w"),
                                    stderr=subprocess.STDOUT) for i in range(args.workers)]
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            bare = bare_endpoint(requests[:20_000], args.concurrency)
            started = time.perf_counter()
            seconds, statuses = blast(port, requests, args.concurrency)
            accepted = statuses.get(200, 0)
            with db.session_scope(url) as session:
                stored = session.scalar(text("SELECT count(*) FROM webhook_events"))
            while args.workers:  # with no worker, only the receiver is measured
                with db.session_scope(url) as session:
                    left = session.scalar(text("SELECT count(*) FROM webhook_events WHERE processed_at IS NULL"))
                if not left:
                    break
                if time.perf_counter() - started > 1800:
                    raise SystemExit("events were not applied in 30 minutes")
                time.sleep(0.1)
            applied_after = time.perf_counter() - started
            while args.workers:  # the confirmations: every one sent (or failed) by the outbox
                with db.session_scope(url) as session:
                    open_items = session.scalar(text(
                        "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"))
                if not open_items or time.perf_counter() - started > 1800:
                    break
                time.sleep(0.1)
            with db.session_scope(url) as session:
                read = session.scalar(text("SELECT count(*) FROM recipients WHERE status = 'read'"))
                events = session.scalar(text("SELECT count(*) FROM status_events WHERE source = 'webhook'"))
                outbox = session.execute(text(
                    "SELECT count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status = 'failed') "
                    "AS failed, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) "
                    "AS p50, percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) "
                    "AS p95 FROM outbox")).one()
                opted_out = session.scalar(text("SELECT count(*) FROM contacts WHERE consent_status = 'opted_out'"))
            confirmations = httpx.get(f"{fake_base}/_fake/accepted").json()["identifiers"]
            cpu = {"receiver": cpu_seconds(receiver.pid), "workers": sum(cpu_seconds(w.pid) for w in workers),
                   "fake Respond.io": cpu_seconds(fake.pid)}
        finally:
            fake.terminate()
            for proc in [receiver, *workers]:
                proc.terminate()
            for proc in [receiver, *workers]:
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
    rate = accepted / seconds
    print(f"bare Starlette endpoint, {args.concurrency} connections: {bare:,.0f} requests/s")
    print(f"receiver: {len(requests):,} signed events, {args.concurrency} connections, answers {dict(statuses)}: "
          f"{rate:,.0f} events/s accepted ({seconds:.1f} s), {stored:,} stored; all applied "
          f"{applied_after:.1f} s after the first was sent ({len(requests) / applied_after:,.0f} events/s end to end "
          f"with {args.workers} worker(s)); {read:,} of {messages:,} rows now read, {events:,} status events")
    print(f"ratio of accepted events/s to the bare endpoint: {rate / bare:.2f}")
    print("CPU seconds used: " + ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items()))
    if stop_count:
        print(f"outbox: {stop_count:,} STOP messages, {opted_out:,} people opted out, {outbox.sent:,} confirmations "
              f"sent ({outbox.failed:,} failed), {len(confirmations):,} received by the provider for "
              f"{len(set(confirmations)):,} people; send latency from the decision "
              f"p50 {(outbox.p50 or 0) * 1000:,.0f} ms, "
              f"p95 {(outbox.p95 or 0) * 1000:,.0f} ms")


if __name__ == "__main__":
    main()
