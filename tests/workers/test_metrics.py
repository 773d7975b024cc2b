"""Observability with real processes: a `python -m workers` on real Redis and PostgreSQL sends a
small campaign to the fake Respond.io server; its /metrics then tells what happened (sends by
outcome and error code, provider latency, 429s and retries, queue depth, ledger rows, workers
alive), and its JSON logs carry the campaign ids and never a phone number or the token."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from core import campaigns, db
from core.models import Recipient
from tests.campaign_fixtures import make_audience, make_campaign
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(values: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in values.items() if n == name and all((k, val) in ls for k, val in labels.items()))


def test_worker_metrics_and_logs_after_a_small_campaign(pg_database, redis_url, fake_respondio, tmp_path) -> None:  # noqa: ANN001
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    with db.session_scope(pg_database) as session:
        audience = make_audience(session, size=30, phone_prefix="+2417702")
        campaign = make_campaign(session, audience, name="Métriques")
        campaign_id = campaign.id
    # The fake server's first three answers are 429s, the fourth a permanent WhatsApp error.
    fake_respondio.fail_next(3, status=429, retry_after=0.2)
    fake_respondio.fail_next(1, status=400, body={"code": 400, "message": "Message undeliverable",
                                                  "errorCode": 131026})
    port = free_port()
    env = {**os.environ, "DATABASE_URL": pg_database, "REDIS_URL": redis_url, "WORKER_METRICS_PORT": str(port),
           "RESPONDIO_API_TOKEN": fake_respondio.token, "RESPONDIO_BASE_URL": fake_respondio.base_url,
           "RESPONDIO_CHANNEL_ID": str(fake_respondio.channel_id), "SCHEDULER_INTERVAL_SECONDS": "0.3",
           "STATUS_POLL_DELAY_SECONDS": "100000", "SEND_CONCURRENCY": "4", "SEND_BATCH_SIZE": "10",
           "DISPATCHERS_PER_CAMPAIGN": "1", "MAX_SEND_RATE": "200", "LOG_FORMAT": "json", "LOG_LEVEL": "INFO",
           "DATA_DIR": str(tmp_path)}
    log_path = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "workers", "--name", "metrics-test"], cwd=ROOT, env=env,
                              stdout=log_path.open("w"), stderr=subprocess.STDOUT)
    try:
        with db.session_scope(pg_database) as session:
            campaigns.launch(session, campaigns.get(session, campaign_id))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with db.session_scope(pg_database) as session:
                if campaigns.get(session, campaign_id).status == "completed":
                    break
            time.sleep(0.3)
        with db.session_scope(pg_database) as session:
            assert campaigns.get(session, campaign_id).status == "completed", log_path.read_text()[-3000:]
            statuses = session.scalars(select(Recipient.status).where(Recipient.campaign_id == campaign_id)).all()
        sent, failed = statuses.count("sent"), statuses.count("failed")
        assert sent + failed == audience.reachable - len(audience.no_agency_ids) and failed == 1
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    values = samples(text)
    assert total(values, "cnss_messages_total", outcome="sent") == sent
    assert total(values, "cnss_messages_total", outcome="failed", error_code="131026") == 1
    accepted = len(fake_respondio.accepted)
    assert total(values, "cnss_provider_request_seconds_count", operation="send") == accepted + 3 + 1
    assert total(values, "cnss_provider_responses_total", operation="send", status="200") == accepted
    assert total(values, "cnss_provider_responses_total", operation="send", status="429") == 3
    assert total(values, "cnss_provider_retries_total", reason="429") == 3
    assert total(values, "cnss_campaigns", status="completed") == 1
    assert total(values, "cnss_workers_alive") >= 1 and total(values, "cnss_database_up") == 1
    assert ("cnss_queue_depth", (("queue", "default"),)) in values

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON, RQ's own included
    assert any(r.get("campaign_id") == campaign_id for r in records)
    everything = log_path.read_text()
    assert not re.search(r"\+?241770200\d\d", everything), "a phone number reached the logs"
    assert fake_respondio.token not in everything
