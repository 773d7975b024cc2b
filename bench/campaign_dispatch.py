"""Benchmark: campaign dispatch through real RQ workers (Redis, PostgreSQL) to the fake Respond.io
server in its own process, answering each request in 20 ms.

1. N recipients, no rate cap, with 1 and then 2 workers: messages/s, and the ratio to a bare httpx
   client sending the same requests at the same concurrency to the same server, in the same run
   (the fastest of three bare runs: threads sharing one client, and a client per thread, right
   before the campaign; a client per thread again right after it). Also the ratio to bare threads
   calling an httpx transport directly, as the senders do: what the engine itself costs.
2. A cap of 80 messages/s: achieved rate, and the busiest 1-second window seen by the server.
3. Launch (ledger materialization) of a 1,000,000-recipient campaign.
4. Faults (issue #15), 50,000 recipients at 400 msg/s, 2 workers, the provider answering 10 % of sends
   with 500, losing the answer to 2 % of the sends it accepted (502), and capping sends at 150/s (429
   with Retry-After); a worker busy sending SIGKILLed twice (its process tree), each time another
   one, and restarted as a container would be: messages/s, provider requests per recovered row,
   seconds from the last kill to the last row final, duplicates and people missed.

    .venv/bin/python -m bench.campaign_dispatch [--recipients 100000] [--launch 1000000]
        [--parts uncapped,cap,launch,faults] [--workers 1,2] [--repeat-cap 1] [--fault-recipients 50000]
Targets (issue #5): ratio >= 0.8 and >= 1,000 msg/s with 2 workers; cap >= 95 % and never exceeded;
launch of 1M < 15 s. Issue #15: no duplicate, no one missed, every row final.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import httpx
from sqlalchemy import text

from bench.common import fresh_database
from core import campaigns, db, templates
from core.config import reload_settings
from core.models import Segment
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN, CHANNEL, CONCURRENCY = "bench-token", 4242, 32
TEMPLATE = {"name": "bench_rappel", "language": "fr", "category": "UTILITY", "status": "APPROVED",
            "body": "Bonjour {{1}}, message de test de charge.",
            "variable_mapping": {"1": {"source": "field", "field": "first_name", "fallback": "Madame, Monsieur"}}}


def start_fake(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.fake_respondio", "--port", str(port),
                             "--latency", str(latency), "--token", TOKEN], cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{base}/_fake/accepted", timeout=0.5)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("fake server did not start")


def seed(url: str, recipients: int) -> int:
    """`recipients` contacts in one static segment, written set-based."""
    with db.session_scope(url) as session:
        session.execute(text(
            "INSERT INTO contacts (phone, first_name, language, attributes, consent_status, search_text, "
            "created_at, updated_at) SELECT '+2416' || lpad(i::text, 7, '0'), 'Prénom' || i, 'fr', '{}'::jsonb, "
            "'opted_in', '', now(), now() FROM generate_series(1, :n) i"), {"n": recipients})
        segment = Segment(name="bench", kind="static")
        session.add(segment)
        session.flush()
        session.execute(text("INSERT INTO segment_members (segment_id, contact_id, added_at) "
                             "SELECT :s, id, now() FROM contacts"), {"s": segment.id})
        templates.save(session, TEMPLATE)
        return segment.id


def settle(url: str) -> None:
    """Vacuum and checkpoint after seeding, so no background work of the database falls into one
    measurement and not the other."""
    with db.get_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))


def bare_httpx(base: str, requests: int, concurrency: int, *, mode: str) -> float:
    """The same requests with nothing around them, from `concurrency` threads: sharing one pooled
    httpx client ("shared"), each with its own client ("own"), or each with its own httpx transport
    called directly ("transport": the HTTP path the dispatcher's senders take, without the engine)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def new_client() -> httpx.Client:
        return httpx.Client(base_url=f"{base}/v2", headers=headers,
                            limits=httpx.Limits(max_connections=concurrency * 2,
                                                max_keepalive_connections=concurrency * 2))

    def post_with(client: httpx.Client | httpx.HTTPTransport, path: str, body: dict) -> None:
        if isinstance(client, httpx.Client):
            client.post(path, json=body)
            return
        request = httpx.Request("POST", f"{base}/v2{path}", json=body, headers=headers)
        response = client.handle_request(request)
        response.read()
        response.json()

    common = new_client() if mode == "shared" else None
    counter = iter(range(requests))
    lock = threading.Lock()

    def run() -> None:
        client = common or (httpx.HTTPTransport() if mode == "transport" else new_client())
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            body = {"channelId": CHANNEL, "message": {"type": "whatsapp_template", "template": {
                "name": TEMPLATE["name"], "languageCode": "fr",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": f"Prénom{i}"}]}]}}}
            for _ in range(3):  # a kept-alive connection the server closed: the request is made again
                try:
                    post_with(client, f"/contact/phone:+2417{i:07d}/message", body)
                    break
                except httpx.TransportError:
                    continue
        if common is None:
            client.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if common is not None:
        common.close()
    return requests / (time.perf_counter() - started)


def launch_campaign(url: str, segment_id: int, name: str, rate: int | None) -> int:
    with db.session_scope(url) as session:
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name=name, template_id=session.scalar(text("SELECT id FROM templates")),
            include_segment_ids=[segment_id], rate_limit=rate, quiet_hours=None))
        campaigns.launch(session, campaign)
        return campaign.id


def run_campaign(url: str, base: str, segment_id: int, workers: int, rate: int | None, expected: int,
                 redis_db: int) -> dict:
    from redis import Redis

    redis_url = f"redis://127.0.0.1:6379/{redis_db}"
    Redis.from_url(redis_url).flushdb()
    httpx.post(f"{base}/_fake/reset")
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "RESPONDIO_API_TOKEN": TOKEN,
           "RESPONDIO_BASE_URL": f"{base}/v2", "RESPONDIO_CHANNEL_ID": str(CHANNEL), "MAX_SEND_RATE": "100000",
           "SEND_CONCURRENCY": str(CONCURRENCY), "SEND_BATCH_SIZE": str(CONCURRENCY * 4),
           # The production tick: a dispatcher whose time is up queues the next one itself.
           "DISPATCHERS_PER_CAMPAIGN": str(workers), "SCHEDULER_INTERVAL_SECONDS": "5",
           "STATUS_POLL_DELAY_SECONDS": "100000", "LOG_LEVEL": "WARNING"}
    os.environ.update({k: env[k] for k in ("MAX_SEND_RATE",)})
    reload_settings()
    logs = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    procs = [subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                              stdout=(logs / f"w{i}.log").open("w"), stderr=subprocess.STDOUT) for i in range(workers)]
    try:
        campaign_id = launch_campaign(url, segment_id, f"bench {workers}w {rate}", rate)
        started = time.perf_counter()
        while True:
            with db.session_scope(url) as session:
                status = campaigns.get(session, campaign_id).status
            if status != "running":
                break
            if time.perf_counter() - started > 3600:
                raise SystemExit("campaign did not finish")
            time.sleep(0.5)
        elapsed = time.perf_counter() - started
    finally:
        for p in procs:
            p.terminate()
        for p in procs:  # a warm shutdown lets a dispatcher job end; a stuck one is killed
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                print(f"worker {p.pid} did not stop within 60 s after SIGTERM: killed (logs in {logs})")
                p.kill()
                p.wait()
    record = httpx.get(f"{base}/_fake/accepted", timeout=60).json()
    stamps = sorted(record["at"])
    duplicates = len(record["identifiers"]) - len(set(record["identifiers"]))
    span = stamps[-1] - stamps[0] if len(stamps) > 1 else elapsed
    busiest, j = 0, 0
    for i, t in enumerate(stamps):  # the busiest 1-second window, sliding over every accepted message
        while stamps[j] < t - 1.0:
            j += 1
        busiest = max(busiest, i - j + 1)
    return {"status": status, "accepted": record["count"], "expected": expected, "duplicates": duplicates,
            "seconds_launch_to_completed": round(elapsed, 1), "msg_per_s_at_server": round(len(stamps) / span, 1),
            "busiest_1s_window": busiest}


def run_faults(url: str, base: str, segment_id: int, expected: int, *, workers: int = 2, rate: int = 400,
               provider_cap: int = 150, kills: int = 2) -> dict:
    """The campaign under provider faults and worker kills (see the module's docstring)."""
    from redis import Redis

    redis_url = "redis://127.0.0.1:6379/13"
    Redis.from_url(redis_url).flushdb()
    httpx.post(f"{base}/_fake/reset")
    httpx.post(f"{base}/_fake/configure", json={"error_rate": 0.10, "lost_answer_rate": 0.02,
                                                "rate_limit": provider_cap})
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "RESPONDIO_API_TOKEN": TOKEN,
           "RESPONDIO_BASE_URL": f"{base}/v2", "RESPONDIO_CHANNEL_ID": str(CHANNEL), "MAX_SEND_RATE": "1000",
           "RESPONDIO_TIMEOUT_SECONDS": "5", "DISPATCHERS_PER_CAMPAIGN": str(workers),
           "SCHEDULER_INTERVAL_SECONDS": "5", "STATUS_POLL_DELAY_SECONDS": "100000", "LOG_LEVEL": "WARNING",
           # The fake server has no list limit: reconciliation at 100 lookups/s rather than Respond.io's 5.
           "RECONCILE_RATE": "100", "WORKER_METRICS_PORT": "0"}
    os.environ["MAX_SEND_RATE"] = env["MAX_SEND_RATE"]  # the campaign's rate is checked against it here too
    reload_settings()
    logs = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    spawned = [0]

    def spawn() -> subprocess.Popen:
        spawned[0] += 1
        return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, start_new_session=True,
                                stdout=(logs / f"w{spawned[0]}.log").open("w"), stderr=subprocess.STDOUT)

    procs = [spawn() for _ in range(workers)]
    stop = threading.Event()

    def restart_policy() -> None:  # as a container runtime would
        while not stop.is_set():
            for i, proc in enumerate(procs):
                if proc.poll() is not None:
                    procs[i] = spawn()
            time.sleep(0.2)

    keeper = threading.Thread(target=restart_policy, daemon=True)
    keeper.start()
    killed: list[int] = []
    last_kill = None
    try:
        campaign_id = launch_campaign(url, segment_id, "bench faults", rate)
        started = time.perf_counter()
        while True:
            with db.session_scope(url) as session:
                status = campaigns.get(session, campaign_id).status
                sent = session.scalar(text("SELECT count(*) FROM recipients "
                                           "WHERE campaign_id = :c AND status = 'sent'"), {"c": campaign_id})
                owners = set(session.scalars(text("SELECT DISTINCT lease_owner FROM recipients WHERE status = "
                                                  "'sending' AND lease_owner IS NOT NULL")).all())
            if status != "running":
                break
            # Kill a worker busy sending at a third and at two thirds of the way, another one each time.
            if len(killed) < kills and sent >= expected * (len(killed) + 1) / (kills + 1):
                busy = {int(o.split(":")[1]) for o in owners}
                victim = next((p for p in procs if p.pid in busy and p.pid not in killed and p.poll() is None), None)
                if victim is not None:
                    os.killpg(victim.pid, signal.SIGKILL)
                    killed.append(victim.pid)
                    last_kill = time.perf_counter()
            if time.perf_counter() - started > 3600:
                raise SystemExit("campaign did not finish")
            time.sleep(0.2)
        finished = time.perf_counter()
    finally:
        stop.set()
        keeper.join(timeout=5)
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        httpx.post(f"{base}/_fake/configure", json={"error_rate": 0.0, "lost_answer_rate": 0.0, "rate_limit": None})
    record = httpx.get(f"{base}/_fake/accepted", timeout=60).json()
    requests = httpx.get(f"{base}/_fake/requests", timeout=60).json()
    with db.session_scope(url) as session:
        counts = dict(session.execute(text("SELECT status, count(*) FROM recipients WHERE campaign_id = :c "
                                           "GROUP BY status"), {"c": campaign_id}).all())
        # Rows that needed more than one clean send: retried, or looked up at the provider.
        recovered = session.scalar(text(
            "SELECT count(*) FROM recipients r WHERE campaign_id = :c AND (attempts > 1 OR EXISTS (SELECT 1 FROM "
            "status_events e WHERE e.recipient_id = r.id AND e.source = 'reconcile'))"), {"c": campaign_id})
        unverified = session.scalar(text("SELECT count(*) FROM recipients WHERE campaign_id = :c AND "
                                         "error_code = 'unverified'"), {"c": campaign_id})
    identifiers = record["identifiers"]
    stamps = sorted(record["at"])
    total_requests = sum(requests.values())
    extra = total_requests - len(set(identifiers))  # beyond one accepted send per person
    return {"status": status, "expected": expected, "accepted": record["count"],
            "duplicates": len(identifiers) - len(set(identifiers)), "missed": expected - len(set(identifiers)),
            "ledger": counts, "unverified": unverified, "killed": len(killed),
            "seconds_launch_to_completed": round(finished - started, 1),
            "msg_per_s_at_server": round(len(stamps) / (stamps[-1] - stamps[0]), 1) if len(stamps) > 1 else 0,
            "requests": requests, "recovered_rows": recovered,
            "requests_per_recovered_row": round(extra / recovered, 2) if recovered else None,
            "list_requests_per_recovered_row": round(requests.get("list", 0) / recovered, 2) if recovered else None,
            "seconds_last_kill_to_all_final": round(finished - last_kill, 1) if last_kill else None}


def launch_million(url: str, n: int) -> float:
    segment_id = seed(url, n)
    with db.session_scope(url) as session:
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name="1M", template_id=session.scalar(text("SELECT id FROM templates")), include_segment_ids=[segment_id],
            quiet_hours=None))
        campaign_id = campaign.id
    session_url = url
    started = time.perf_counter()
    with db.session_scope(session_url) as session:
        campaigns.launch(session, campaigns.get(session, campaign_id))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--launch", type=int, default=1_000_000)
    parser.add_argument("--cap-recipients", type=int, default=2_400)
    parser.add_argument("--parts", default="uncapped,cap,launch,faults", help="which parts to run, comma-separated")
    parser.add_argument("--fault-recipients", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2", help="worker counts for the uncapped part")
    parser.add_argument("--repeat-cap", type=int, default=1, help="runs of the capped part")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    fake, base = start_fake(latency=0.02)
    try:
        with fresh_database() if "uncapped" in parts else nullcontext() as url:
            segment_id = seed(url, args.recipients) if url else 0
            for workers in [int(w) for w in args.workers.split(",")] if url else []:
                # The baselines right before and right after each run, so that they see the machine as
                # the run did; the ratio is to the fastest of them.
                settle(url)
                n = min(args.recipients, 20_000)
                in_flight = CONCURRENCY * workers
                before = {mode: bare_httpx(base, n, in_flight, mode=mode) for mode in ("shared", "own", "transport")}
                result = run_campaign(url, base, segment_id, workers, None, args.recipients, redis_db=13)
                after = {mode: bare_httpx(base, n, in_flight, mode=mode) for mode in ("own", "transport")}
                client = max(before["shared"], before["own"], after["own"])
                transport = max(before["transport"], after["transport"])
                rate = result["msg_per_s_at_server"]
                print(f"{workers} worker(s), {args.recipients:,} recipients, no cap: {result}\n"
                      f"  bare httpx client at {in_flight} in flight: {before['shared']:,.0f} req/s with one shared "
                      f"client, {before['own']:,.0f} with a client per thread before the run, {after['own']:,.0f} "
                      f"after it; ratio to the fastest: {rate / client:.2f}\n"
                      f"  bare httpx transport (the senders' HTTP path, nothing around it): "
                      f"{before['transport']:,.0f} req/s before, {after['transport']:,.0f} after; "
                      f"ratio to the fastest: {rate / transport:.2f}")
        for _ in range(args.repeat_cap if "cap" in parts else 0):
            with fresh_database() as url:
                segment_id = seed(url, args.cap_recipients)
                result = run_campaign(url, base, segment_id, 2, 80, args.cap_recipients, redis_db=13)
                print(f"cap 80 msg/s, {args.cap_recipients:,} recipients, 2 workers: {result}; achieved "
                      f"{result['msg_per_s_at_server'] / 80:.1%} of the cap")
        if "faults" in parts:
            with fresh_database() as url:
                segment_id = seed(url, args.fault_recipients)
                settle(url)
                result = run_faults(url, base, segment_id, args.fault_recipients)
                print(f"faults, {args.fault_recipients:,} recipients at 400 msg/s, 2 workers (10 % of sends answered "
                      f"500, 2 % accepted and answered 502, provider cap 150/s, 2 workers SIGKILLed): {result}")
        if "launch" in parts:
            with fresh_database() as url:
                seconds = launch_million(url, args.launch)
                print(f"launch of a {args.launch:,}-recipient campaign (ledger materialization): {seconds:.1f} s")
    finally:
        fake.terminate()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
