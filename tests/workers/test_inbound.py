"""The webhook receiver over real HTTP on loopback, the drain job (in-process and under RQ on real
Redis), the chatbot's part, and a database outage that loses nothing."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from core import config, db, inbound
from core.models import ChatbotInteraction, Contact, Conversation, Message, WebhookEvent
from core.timeutil import utcnow
from tests.support.servers import TcpProxy, ThreadedServer
from workers import inbound as inbound_worker
from workers.webhooks import PROCESSING_KEY, SPOOL_KEY, Spool, create_app

SECRET = "clé-de-test"


@pytest.fixture
def receiver(monkeypatch):  # noqa: ANN001, ANN201
    """Starts the receiver app under uvicorn once the database (and maybe Redis) is chosen."""
    servers: list[ThreadedServer] = []

    def start(**env: str) -> str:
        monkeypatch.setenv("RESPONDIO_WEBHOOK_SECRETS", f"ancienne-clé,{SECRET}")
        monkeypatch.setenv("WEBHOOK_MAX_BODY_BYTES", "4096")
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        config.reload_settings()
        server = ThreadedServer(create_app(), name="webhooks").start()
        servers.append(server)
        return server.base

    yield start
    for server in servers:
        server.stop()


def post(base: str, payload: dict | bytes, *, key: str | None = SECRET, headers: dict | None = None,
         client: httpx.Client | None = None) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["X-Webhook-Signature"] = inbound.sign(body, key)
    return (client or httpx).post(f"{base}/webhooks/respondio", content=body, headers=sent, timeout=10)


def message_event(phone: str, text: str) -> dict:
    event_id = uuid.uuid4().hex
    return {"event_id": event_id, "event_type": "message.received", "contact": {"phone": phone},
            "message": {"messageId": f"in-{event_id}", "timestamp": int(utcnow().timestamp() * 1000),
                        "message": {"type": "text", "text": text}}}


def status_event(n: int) -> dict:
    """A delivery status for a message this workspace sent from elsewhere (not in our ledger)."""
    return {"event_id": f"status-{uuid.uuid4().hex}", "event_type": "message.sent",
            "message": {"messageId": f"elsewhere-{n}", "traffic": "outgoing",
                        "status": [{"value": "delivered", "timestamp": int(utcnow().timestamp() * 1000)}]}}


def stored_count(url: str) -> int:
    with db.session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


def wait_for(condition, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_the_receiver_refuses_what_is_not_a_signed_event_and_stores_nothing(db_url, receiver) -> None:  # noqa: ANN001
    base = receiver()
    unauthorized, too_large = (metric(base, f'cnss_webhook_requests_total{{result="{r}"}}')
                               for r in ("unauthorized", "too_large"))
    events = 'cnss_webhook_events_total{{event_type="none",verification="{}"}}'
    missing, wrong, malformed = (metric(base, events.format(v)) for v in ("missing_signature", "wrong_signature",
                                                                          "malformed"))
    event = message_event("+24177880001", "Bonjour")
    assert post(base, event, key=None).status_code == 401  # missing header
    assert post(base, event, key="mauvaise-clé").status_code == 401  # wrong key
    body = json.dumps(event).encode()
    altered = httpx.post(f"{base}/webhooks/respondio", content=body.replace(b"Bonjour", b"Bonsoir"),
                         headers={"X-Webhook-Signature": inbound.sign(body, SECRET)})
    assert altered.status_code == 401
    assert post(base, b"pas du json").status_code == 400
    assert post(base, {"event_id": "x"}).status_code == 400  # no event_type
    big = message_event("+24177880001", "x" * 5000)
    assert post(base, big).status_code == 413
    chunked = httpx.post(f"{base}/webhooks/respondio", content=iter([b"{" + b" " * 3000, b" " * 3000 + b"}"]),
                         headers={"X-Webhook-Signature": "x"})
    assert chunked.status_code == 413  # no Content-Length: the stream is cut at the limit
    assert stored_count(db_url) == 0
    assert metric(base, 'cnss_webhook_requests_total{result="unauthorized"}') == unauthorized + 3
    assert metric(base, events.format("missing_signature")) == missing + 1
    assert metric(base, events.format("wrong_signature")) == wrong + 2  # wrong key, altered body
    assert metric(base, events.format("malformed")) == malformed + 2
    assert metric(base, 'cnss_webhook_requests_total{result="too_large"}') == too_large + 2


def test_a_signed_event_is_durable_before_the_200_and_applied_once(db_url, receiver) -> None:  # noqa: ANN001
    base = receiver()
    event = message_event("077 88 00 02", "Quand est payée la pension de janvier ?")
    valid = 'cnss_webhook_events_total{event_type="message.received",verification="valid"}'
    before = metric(base, valid)
    first = post(base, event)
    assert first.status_code == 200 and first.json() == {"status": "ok"}
    assert metric(base, valid) == before + 1
    assert stored_count(db_url) == 1  # written before the answer
    assert post(base, event, key="ancienne-clé").status_code == 200  # rotated key, same event again
    assert stored_count(db_url) == 1
    # Embedded mode: the drain runs in this process's job threads.
    with db.session_scope(db_url) as session:
        assert wait_for(lambda: inbound.pending_count(session) == 0)
    with db.session_scope(db_url) as session:
        contact = session.scalar(select(Contact).where(Contact.phone == "+24177880002"))
        assert contact is not None and contact.window_expires_at is not None
        assert session.scalar(select(func.count()).select_from(Message).where(Message.direction == "inbound")) == 1
    # The knowledge base is empty here: the bot (asked once the event is applied) refuses and the
    # conversation waits for an agent.
    with db.session_scope(db_url) as session:
        assert wait_for(lambda: session.scalar(select(Conversation.status)) == "waiting_agent", timeout=60)
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "database": True}


def test_drain_under_rq_on_real_redis(db_url, redis_url, receiver) -> None:  # noqa: ANN001
    from rq import Queue, SimpleWorker

    from core import queue

    base = receiver()
    for i in range(30):
        assert post(base, message_event(f"+2417788{i:04d}", "STOP")).status_code == 200
    rq_queue = Queue(queue.DEFAULT_QUEUE, connection=queue.redis_connection())
    assert 1 <= len(rq_queue) <= 2  # one drain waiting, not one per event
    SimpleWorker([rq_queue], connection=queue.redis_connection()).work(burst=True)
    with db.session_scope(db_url) as session:
        assert inbound.pending_count(session) == 0
        opted_out = session.scalar(select(func.count()).select_from(Contact)
                                   .where(Contact.consent_status == "opted_out"))
        assert opted_out == 30


@pytest.mark.parametrize("spool", ["redis", "file"])
def test_a_database_outage_loses_nothing(pg_database, receiver, request, spool, monkeypatch) -> None:  # noqa: ANN001
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    target = make_url(pg_database)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    through_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    env = {"DATABASE_URL": through_proxy, "DATA_DIR": str(request.getfixturevalue("tmp_path"))}
    if spool == "redis":
        request.getfixturevalue("redis_url")
    try:
        base = receiver(**env)
        assert post(base, message_event("+24177881000", "avant la panne")).status_code == 200
        proxy.cut()
        during = [message_event(f"+2417788{2000 + i}", f"pendant la panne {i}") for i in range(25)]
        for event in during:
            assert post(base, event).status_code == 200  # spooled, durably, before the answer
        assert httpx.get(f"{base}/healthz").json()["database"] is False
        if spool == "redis":
            from redis import Redis

            redis = Redis.from_url(config.get_settings().redis_url)
            assert redis.llen(SPOOL_KEY) + redis.llen(PROCESSING_KEY) == 25  # waiting, or being moved
        assert stored_count(pg_database) == 1
        proxy.restore()
        assert wait_for(lambda: stored_count(pg_database) == 26, timeout=30)
        if spool == "redis":
            inbound_worker.drain(answerer=None)  # what an RQ worker does with the queued drain
        # (without Redis, the receiver's own job threads drain)
        with db.session_scope(pg_database) as session:
            assert wait_for(lambda: inbound.pending_count(session) == 0)
            texts = set(session.scalars(select(Message.text).where(Message.direction == "inbound")).all())
        assert {e["message"]["message"]["text"] for e in during} <= texts
    finally:
        proxy.close()
        db.dispose_engines()


def test_a_30_second_database_outage_during_a_burst_of_2000_events(pg_database, redis_url, receiver,
                                                                  fake_respondio, monkeypatch) -> None:  # noqa: ANN001
    """2,000 events posted by 8 concurrent senders (statuses; one in ten a STOP, one in ten a question,
    each from its own number); the
    database is cut for 30 s in the middle of the burst. Every event answered 200 is stored once,
    every opt-out applied, every confirmation received by Respond.io once, nothing left in the spool."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from redis import Redis

    from core.models import OutboxMessage
    from tests.conftest import _truncate_pg
    from workers import outbox as outbox_worker

    _truncate_pg(pg_database)
    target = make_url(pg_database)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    through_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    for key, value in {"RESPONDIO_API_TOKEN": fake_respondio.token, "RESPONDIO_BASE_URL": fake_respondio.base_url,
                       "RESPONDIO_CHANNEL_ID": str(fake_respondio.channel_id)}.items():
        monkeypatch.setenv(key, value)
    events = [message_event(f"+2417760{i:04d}", "STOP") if i % 10 == 0 else
              message_event(f"+2417760{i:04d}", f"Question {i}") if i % 10 == 1 else status_event(i)
              for i in range(2000)]
    stops = {e["contact"]["phone"] for e in events if e.get("message", {}).get("message", {}).get("text") == "STOP"}
    try:
        base = receiver(DATABASE_URL=through_proxy, WEBHOOK_MAX_BODY_BYTES="65536")
        clients = threading.local()  # one keep-alive connection per sender, as Respond.io's own

        def send(event: dict) -> int:
            if not hasattr(clients, "http"):
                clients.http = httpx.Client()
            return post(base, event, client=clients.http).status_code

        with ThreadPoolExecutor(8) as senders:
            def burst(part: list[dict]) -> list[int]:
                return list(senders.map(send, part))

            answers = burst(events[:600])
            proxy.cut()
            cut_at = time.monotonic()
            answers += burst(events[600:1400])  # spooled in Redis, durably, before each 200
            assert httpx.get(f"{base}/healthz").json()["database"] is False
            time.sleep(max(0.0, 30 - (time.monotonic() - cut_at)))
            proxy.restore()
            answers += burst(events[1400:])
        assert answers == [200] * 2000
        assert wait_for(lambda: stored_count(pg_database) == 2000, timeout=120)
        redis = Redis.from_url(config.get_settings().redis_url)
        assert wait_for(lambda: redis.llen(SPOOL_KEY) + redis.llen(PROCESSING_KEY) == 0)
        monkeypatch.setenv("DATABASE_URL", pg_database)
        config.reload_settings()
        inbound_worker.drain(answerer=None)  # what the RQ workers do with the queued drains
        outbox_worker.deliver(linger=0)
        with db.session_scope(pg_database) as session:
            assert inbound.pending_count(session) == 0 and inbound.dead_letter_count(session) == 0
            opted_out = set(session.scalars(select(Contact.phone).where(Contact.consent_status == "opted_out")))
            inbound_texts = session.scalar(select(func.count()).select_from(Message)
                                           .where(Message.direction == "inbound"))
            confirmations = session.scalars(select(OutboxMessage.status)
                                            .where(OutboxMessage.purpose == "opt_out_confirmation")).all()
        assert opted_out == stops and inbound_texts == 400
        assert confirmations == ["sent"] * len(stops)
        received = [m.identifier for m in fake_respondio.accepted
                    if m.message.get("text") == inbound.OPT_OUT_CONFIRMATION]
        assert sorted(received) == sorted(f"phone:{p}" for p in stops)  # each once
    finally:
        proxy.close()
        db.dispose_engines()


def test_an_unknown_event_type_with_a_1_mb_nested_payload_is_stored_and_holds_nothing_back(db_url, receiver) -> None:  # noqa: ANN001, E501
    base = receiver(WEBHOOK_MAX_BODY_BYTES=str(2_000_000))

    def nested(levels: int) -> dict:
        deep: dict = {"fin": True}
        for level in range(levels):
            deep = {f"niveau{level}": deep, "liste": [["\u0000 et \x00"]]}
        return deep

    too_deep = {"event_id": "trop-profond", "event_type": "space.something.new", "deep": nested(500)}
    assert post(base, too_deep).status_code == 400  # refused before anything is read or stored
    unknown = {"event_id": "inconnu-1", "event_type": "space.something.new", "blob": "x" * 1_000_000,
               "deep": nested(50)}
    assert len(json.dumps(unknown).encode()) > 1_000_000
    assert post(base, unknown).status_code == 200
    assert post(base, message_event("+24177880099", "STOP")).status_code == 200
    with db.session_scope(db_url) as session:  # applied by the receiver's own job threads (no Redis here)
        assert wait_for(lambda: inbound.pending_count(session) == 0, timeout=60)
        assert inbound.dead_letter_count(session) == 0
        assert session.scalar(select(Contact.consent_status).where(Contact.phone == "+24177880099")) == "opted_out"
        event = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "inconnu-1"))
        assert event.processed_at is not None and len(event.payload["blob"]) == 1_000_000


def test_two_receivers_moving_the_spool_with_a_lock_shorter_than_a_batch(pg_database, redis_url,
                                                                         monkeypatch) -> None:  # noqa: ANN001
    """The lock expires while a batch is being stored, so both receivers move at once: every event is
    stored exactly once, and nothing is left in the spool (before: 400 of 1,000 lost)."""
    import threading

    from redis import Redis

    from tests.conftest import _truncate_pg

    spool_size = 1000
    _truncate_pg(pg_database)
    monkeypatch.setenv("DATABASE_URL", pg_database)
    config.reload_settings()
    events = [message_event(f"+2417789{i:04d}", f"pendant la panne {i}") for i in range(spool_size)]
    redis = Redis.from_url(redis_url)
    redis.rpush(SPOOL_KEY, *[json.dumps({"event_id": e["event_id"], "event_type": e["event_type"], "payload": e})
                             for e in events])
    moved: list[int] = []
    receivers = [Spool(), Spool()]

    def move(spool: Spool) -> None:
        for _ in range(40):  # each keeps trying, as its watcher does every second
            moved.append(spool.move_to_database(lock_seconds=0.005))
            time.sleep(0.005)

    threads = [threading.Thread(target=move, args=(r,)) for r in receivers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert redis.llen(SPOOL_KEY) == 0 and redis.llen(PROCESSING_KEY) == 0
    assert stored_count(pg_database) == spool_size  # all of them, once (event ids are unique)
    assert sum(moved) >= spool_size and sum(1 for n in moved if n) >= 2  # both receivers took part


# --- the chatbot's part ------------------------------------------------------------------------


def ask(session, text: str, phone: str = "+24177883000") -> None:  # noqa: ANN001
    event = message_event(phone, text)
    inbound.store(session, [inbound.Event(event["event_id"], event["event_type"], event)])


def test_the_bot_answers_with_its_sources(db_url) -> None:  # noqa: ANN001
    def answerer(question: str) -> inbound_worker.BotReply:
        return inbound_worker.BotReply("La pension de janvier est payée à partir du 25.",
                                       sources=[{"title": "Calendrier 2026", "page": 2}], top_score=0.82)

    with db.session_scope(db_url) as session:
        ask(session, "Quand est payée la pension ?")
    totals = inbound_worker.drain(answerer=answerer)
    assert totals["answered"] == 1
    with db.session_scope(db_url) as session:
        bot = session.scalar(select(Message).where(Message.author == "bot"))
        assert bot.text.startswith("La pension") and bot.sources == [{"title": "Calendrier 2026", "page": 2}]
        assert session.scalar(select(Conversation.status)) == "bot"
        interaction = session.scalar(select(ChatbotInteraction))
        assert interaction.channel == "whatsapp" and not interaction.handed_over


@pytest.mark.parametrize("reply, reason", [
    (inbound_worker.BotReply("Je ne suis pas sûr.", unsure=True), "bot_unsure"),
    (inbound_worker.BotReply("", refused=True), "bot_refused"),
    (None, "no_bot"),
])
def test_an_unsure_or_refusing_bot_hands_over_to_the_agents(db_url, reply, reason) -> None:  # noqa: ANN001
    with db.session_scope(db_url) as session:
        ask(session, "Puis-je cumuler deux pensions ?")
    inbound_worker.drain(answerer=(lambda q: reply) if reply is not None else None)
    with db.session_scope(db_url) as session:
        conversation = session.scalar(select(Conversation))
        assert (conversation.status, conversation.handoff_reason) == ("waiting_agent", reason)
        notice = session.scalar(select(Message.text).where(Message.author == "system"))
        assert notice == inbound_worker.BOT_UNSURE_NOTICE


def test_python_m_workers_webhooks_starts_and_answers(db_url, tmp_path) -> None:  # noqa: ANN001
    import os
    import subprocess
    import sys

    from tests.support.servers import free_port

    port = free_port()
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path), "RESPONDIO_WEBHOOK_SECRETS": SECRET}
    proc = subprocess.Popen([sys.executable, "-m", "workers.webhooks", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        started = wait_for(lambda: _answers(f"{base}/healthz"), timeout=30)
        assert started, proc.stdout.read1().decode() if proc.stdout else ""
        assert post(base, message_event("+24177884000", "Bonjour")).status_code == 200
        assert stored_count(db_url) == 1
        assert "cnss_webhook_requests_total" in httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_an_event_the_database_refuses_is_set_aside_and_the_spool_moves_on(pg_database, redis_url,
                                                                            monkeypatch) -> None:  # noqa: ANN001
    """PostgreSQL refuses one event of a batch (a constraint stands for any value it cannot hold):
    the others are stored, the refused one is kept as text in the dead letters, nothing stays spooled."""
    from redis import Redis
    from sqlalchemy import text

    from tests.conftest import _truncate_pg
    from workers.webhooks import _store

    _truncate_pg(pg_database)
    monkeypatch.setenv("DATABASE_URL", pg_database)
    config.reload_settings()
    with db.get_engine(pg_database).begin() as conn:
        conn.execute(text("ALTER TABLE webhook_events ADD CONSTRAINT no_poison CHECK (NOT (payload ? 'poison'))"))
    try:
        good = [message_event(f"+241778830{i:02d}", f"message {i}") for i in range(3)]
        poison = {**message_event("+24177883099", "empoisonné"), "poison": True}
        events = [inbound.parse(json.dumps(e).encode()) for e in (good[0], poison, good[1])]
        assert _store(events) == 3
        redis = Redis.from_url(redis_url)
        redis.rpush(SPOOL_KEY, *[json.dumps({"event_id": e["event_id"], "event_type": e["event_type"], "payload": e})
                                 for e in ({**poison, "event_id": "poison-2"}, good[2])])
        assert Spool().move_to_database() == 2
        assert redis.llen(SPOOL_KEY) == 0 and redis.llen(PROCESSING_KEY) == 0
        with db.session_scope(pg_database) as session:
            dead = inbound.dead_letters(session)
            assert sorted(e.event_id for e in dead) == sorted([poison["event_id"], "poison-2"])
            assert all("_unstorable_body" in e.payload and "no_poison" in e.error for e in dead)
            assert inbound.pending_count(session) == 3  # the good ones wait to be applied
    finally:
        with db.get_engine(pg_database).begin() as conn:
            conn.execute(text("ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS no_poison"))


def test_a_worker_killed_between_the_question_and_the_answer_leaves_no_one_waiting(db_url, tmp_path) -> None:  # noqa: ANN001
    """A real process applies the question (committed), then dies with SIGKILL before the chatbot
    answers. The scheduler's sweep hands the conversation to the agents and tells the person, once."""
    import os
    import signal
    import subprocess
    import sys
    from datetime import timedelta
    from pathlib import Path

    from workers.scheduler import tick

    with db.session_scope(db_url) as session:
        ask(session, "Quand est payée la pension de retraite ?")
    script = ("import os, signal\n"
              "from core import db, inbound\n"
              "with db.session_scope() as s: print(len(inbound.process_pending(s).followups), flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)  # before the chatbot is asked\n")
    env = {**os.environ, "DATABASE_URL": db_url, "DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == -signal.SIGKILL and done.stdout.strip() == "1", done.stderr
    with db.session_scope(db_url) as session:
        conversation = session.scalar(select(Conversation))
        assert conversation.status == "bot" and conversation.bot_pending_since is not None  # left waiting
        assert inbound.hand_over_unanswered(session, older_than=timedelta(minutes=5)) == 0  # not yet
        conversation.bot_pending_since -= timedelta(minutes=6)  # the answer timeout has passed
    for _ in range(2):
        tick()  # the scheduler's sweep, twice: the person is told once
    with db.session_scope(db_url) as session:
        conversation = session.scalar(select(Conversation))
        assert (conversation.status, conversation.handoff_reason) == ("waiting_agent", "bot_no_answer")
        assert conversation.bot_pending_since is None
        notices = session.scalars(select(Message.text).where(Message.author == "system")).all()
        assert notices == [inbound.BOT_NO_ANSWER_NOTICE]


def test_an_answered_question_is_not_swept(db_url) -> None:  # noqa: ANN001
    from datetime import timedelta

    with db.session_scope(db_url) as session:
        ask(session, "Quand est payée la pension ?")
    inbound_worker.drain(answerer=lambda q: inbound_worker.BotReply("Le 25 du mois.", top_score=0.9))
    with db.session_scope(db_url) as session:
        assert session.scalar(select(Conversation.bot_pending_since)) is None
        assert inbound.hand_over_unanswered(session, older_than=timedelta(0)) == 0


def test_an_answer_to_the_first_question_leaves_the_second_marked(db_url) -> None:  # noqa: ANN001
    """Two questions in one batch; the worker answers the first and dies: the second is still waited
    for, and the sweep hands it over."""
    from datetime import timedelta

    with db.session_scope(db_url) as session:
        ask(session, "Quand est payée la pension ?")
        ask(session, "Et les allocations familiales ?")
    with db.session_scope(db_url) as session:
        followups = inbound.process_pending(session).followups
    assert len(followups) == 2
    assert inbound_worker.answer(followups[0], lambda q: inbound_worker.BotReply("Le 25.", top_score=0.9)) == \
        "answered"
    with db.session_scope(db_url) as session:
        assert session.scalar(select(Conversation.bot_pending_since)) is not None  # the second still waits
        assert inbound.hand_over_unanswered(session, older_than=timedelta(0)) == 1
