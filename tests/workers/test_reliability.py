"""Reliability with real processes: RQ workers on real Redis and PostgreSQL, the fake Respond.io
server on loopback. Workers busy sending are SIGKILLed with their whole process tree, PostgreSQL and
Redis are restarted, the provider answers 5xx, 429 and loses answers to sends it accepted, three
schedulers race; every campaign completes, every recipient has exactly one accepted message, and
`campaigns status --json` says what the provider accepted."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core import campaigns, db
from core.config import reload_settings
from core.models import AuditLog, Recipient
from tests.campaign_fixtures import TEMPLATE, make_audience, make_campaign

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


class RedisServer:
    """A Redis of our own on a free port, so that restarting it disturbs nothing else."""

    def __init__(self, tmp: Path) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.tmp = tmp
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.tmp)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class PostgresServer:
    """A PostgreSQL cluster of our own on a free port, so that restarting it disturbs nothing else."""

    def __init__(self) -> None:
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not bins or os.geteuid() != 0:
            pytest.skip("needs root and the PostgreSQL server binaries to run a cluster of its own")
        self.bin = Path(bins[-1]).parent
        self.dir = Path(tempfile.mkdtemp(prefix="cnss-pg-"))
        shutil.chown(self.dir, "postgres", "postgres")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self._as_postgres(["initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres", "-E", "UTF8",
                           "--no-sync"])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / argv[0]), *argv[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self._as_postgres(["pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-o",
                           f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres(["pg_ctl", "-D", f"{self.dir}/data", "-m", mode, "-w", "stop"])

    def remove(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Supervisor:
    """Keeps N worker processes running, like a container restart policy; can SIGKILL one."""

    def __init__(self, env: dict[str, str], count: int, log_dir: Path) -> None:
        self.env, self.count, self.log_dir = env, count, log_dir
        self.procs: list[subprocess.Popen] = []
        self.stopping = threading.Event()
        self.started = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _spawn(self) -> subprocess.Popen:
        self.started += 1
        log = (self.log_dir / f"worker-{self.started}.log").open("w")
        # Its own session: a kill takes the whole tree, as a container runtime's would.
        return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.count)]
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.is_set():
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None:
                    self.procs[i] = self._spawn()
            time.sleep(0.2)

    def kill_one(self) -> int:
        victim = self.procs[0]
        os.killpg(victim.pid, signal.SIGKILL)
        return victim.pid

    def kill_busy(self, spared: set[int], timeout: float = 30) -> int:
        """SIGKILL the process tree of a worker that holds rows it is sending right now, one not
        killed before; returns its pid."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with db.session_scope() as session:
                owners = set(session.scalars(select(Recipient.lease_owner).where(
                    Recipient.status == "sending", Recipient.lease_owner.is_not(None))).all())
            pids = {int(owner.split(":")[1]) for owner in owners}
            for proc in self.procs:
                if proc.pid in pids and proc.pid not in spared and proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    return proc.pid
            time.sleep(0.02)
        raise AssertionError("no worker was busy sending")

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def _stack(database_url: str, fake, tmp_path: Path, monkeypatch) -> dict:  # noqa: ANN001
    redis = RedisServer(tmp_path)
    redis.start()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url,
           "RESPONDIO_API_TOKEN": fake.token, "RESPONDIO_BASE_URL": fake.base_url,
           "RESPONDIO_CHANNEL_ID": str(fake.channel_id), "RESPONDIO_TIMEOUT_SECONDS": "3",
           "SEND_LEASE_SECONDS": "5", "SCHEDULER_INTERVAL_SECONDS": "0.3", "SEND_BATCH_SIZE": "10",
           "SEND_CONCURRENCY": "4", "DISPATCHERS_PER_CAMPAIGN": "2", "MAX_SEND_RATE": "1000", "LOG_LEVEL": "WARNING",
           # Exactly once is what these tests check: a person whose five sends all fail (1 in 100,000 at 10 % of
           # 500s) would rightly end `failed`, which is not what they are about.
           "RECONCILE_RATE": "200", "MAX_SEND_ATTEMPTS": "10"}
    for key in ("DATABASE_URL", "REDIS_URL", "RESPONDIO_API_TOKEN", "RESPONDIO_BASE_URL", "RESPONDIO_CHANNEL_ID"):
        monkeypatch.setenv(key, env[key])
    reload_settings()
    fake.templates = {TEMPLATE["name"]: 3}
    fake.latency = 0.02
    return {"redis": redis, "workers": Supervisor(env, 2, tmp_path), "fake": fake, "env": env}


@pytest.fixture
def stack(pg_database, fake_respondio, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_database)
    parts = _stack(pg_database, fake_respondio, tmp_path, monkeypatch)
    yield parts
    parts["workers"].stop()
    parts["redis"].stop()
    reload_settings()


@pytest.fixture
def own_postgres_stack(fake_respondio, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """The same, on a PostgreSQL cluster of its own (to restart it)."""
    postgres = PostgresServer()
    try:
        postgres.start()
        db.upgrade(postgres.url)
        parts = _stack(postgres.url, fake_respondio, tmp_path, monkeypatch)
        parts["postgres"] = postgres
        yield parts
        parts["workers"].stop()
        parts["redis"].stop()
    finally:
        db.dispose_engines()
        postgres.remove()
        reload_settings()


def launch(size: int, rate: int, **kw) -> int:  # noqa: ANN003
    with db.session_scope() as session:
        audience = make_audience(session, size)
        campaign = make_campaign(session, audience, rate_limit=rate, **kw)
        campaigns.launch(session, campaign)
        return campaign.id


def wait_for(campaign_id: int, status: str = "completed", timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            if campaigns.get(session, campaign_id).status == status:
                return
        time.sleep(0.3)
    with db.session_scope() as session:
        raise AssertionError(f"campaign still {campaigns.progress(session, campaign_id).as_dict()}")


def wait_sent(campaign_id: int, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while sent_count(campaign_id) < at_least:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {sent_count(campaign_id)} sent after {timeout} s")
        time.sleep(0.1)


def sent_count(campaign_id: int) -> int:
    with db.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Recipient).where(
            Recipient.campaign_id == campaign_id, Recipient.status.in_(["sent", "delivered", "read"]))) or 0


def assert_exactly_once(fake, campaign_id: int, env: dict[str, str] | None = None) -> None:  # noqa: ANN001
    """One accepted message per recipient, none missing, none twice; and, when `env` is given, the
    command line's `campaigns status --json` says the same as the provider's record."""
    with db.session_scope() as session:
        counts = Counter(session.scalars(select(Recipient.status).where(Recipient.campaign_id == campaign_id)).all())
    accepted = counts["sent"] + counts["delivered"] + counts["read"]  # statuses polled meanwhile move rows on
    sendable = accepted + counts["pending"] + counts["sending"] + counts["failed"]
    per_phone = Counter(m.identifier for m in fake.accepted)
    duplicates = {p: n for p, n in per_phone.items() if n > 1}
    assert not duplicates, duplicates
    assert accepted == sendable == len(per_phone), counts
    if env is not None:
        out = subprocess.run([sys.executable, "-m", "core", "campaigns", "status", str(campaign_id), "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True).stdout
        status = json.loads(out)
        assert status["status"] == "completed"
        assert status["sent"] + status["delivered"] + status["read"] == len(fake.accepted) == len(per_phone)
        assert status["sending"] == status["pending"] == status["failed"] == status["unverified"] == 0


def test_workers_busy_sending_killed_twice_with_sigkill(stack) -> None:  # noqa: ANN001
    campaign_id = launch(400, rate=60)
    stack["workers"].start()
    wait_sent(campaign_id, 60)
    first = stack["workers"].kill_busy(set())
    wait_sent(campaign_id, 200)
    second = stack["workers"].kill_busy({first})  # the other one this time
    assert second != first
    wait_for(campaign_id)
    assert stack["workers"].started >= 4  # two replaced after SIGKILL
    assert_exactly_once(stack["fake"], campaign_id, stack["env"])


def test_provider_errors_under_real_workers(stack) -> None:  # noqa: ANN001
    stack["fake"].error_rate = 0.10  # 500 without accepting
    stack["fake"].lost_answer_rate = 0.02  # accepted, answered 502
    stack["fake"].rate_limit = 50  # below the campaign's rate: 429 with Retry-After
    campaign_id = launch(300, rate=80)
    stack["workers"].start()
    wait_for(campaign_id, timeout=120)
    assert_exactly_once(stack["fake"], campaign_id, stack["env"])
    assert any(path.endswith("/message/list") for _, path, _ in stack["fake"].requests)


def test_contacts_unknown_to_the_workspace_with_provider_errors(stack) -> None:  # noqa: ANN001
    stack["fake"].unknown_contact_send = "refuse"  # 404 Contact not found until created
    stack["fake"].error_rate = 0.10
    stack["fake"].lost_answer_rate = 0.02
    campaign_id = launch(200, rate=80)
    stack["workers"].start()
    wait_for(campaign_id, timeout=120)
    assert_exactly_once(stack["fake"], campaign_id, stack["env"])


def test_postgresql_restarted_in_the_middle(own_postgres_stack) -> None:  # noqa: ANN001
    stack = own_postgres_stack
    stack["fake"].lost_answer_rate = 0.02
    campaign_id = launch(400, rate=60)
    stack["workers"].start()
    wait_sent(campaign_id, 100)
    stack["postgres"].stop("immediate")  # a crash: no shutdown checkpoint, every connection cut
    time.sleep(2)
    stack["postgres"].start()
    wait_for(campaign_id, timeout=150)
    assert_exactly_once(stack["fake"], campaign_id, stack["env"])


def test_redis_restarted_in_the_middle(stack) -> None:  # noqa: ANN001
    campaign_id = launch(400, rate=60)
    stack["workers"].start()
    wait_sent(campaign_id, 100)
    stack["redis"].stop()
    time.sleep(2)
    stack["redis"].start()  # empty: queues, heartbeats and limits are gone, the ledger is not
    wait_for(campaign_id, timeout=120)
    assert_exactly_once(stack["fake"], campaign_id, stack["env"])


def test_scheduled_start_raced_by_three_schedulers(stack) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core.timeutil import utcnow

    at = utcnow() + timedelta(seconds=3)
    campaign_id = launch(50, rate=60, scheduled_at=at)
    code = ("import time, datetime as d\n"
            "from core import campaigns, db\n"
            f"time.sleep(max(0, {at.timestamp()} - time.time()))\n"
            "with db.session_scope() as s: print(campaigns.start_due(s))\n")
    racers = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=stack["env"], stdout=subprocess.PIPE,
                               text=True) for _ in range(3)]
    outputs = [r.communicate(timeout=60)[0].strip() for r in racers]
    assert Counter(outputs) == Counter(["[]", "[]", f"[{campaign_id}]"])  # exactly one winner
    with db.session_scope() as session:
        starts = session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "campaign_running", AuditLog.target_id == str(campaign_id)))
        rows = session.scalar(select(func.count()).select_from(Recipient).where(Recipient.campaign_id == campaign_id))
    assert starts == 1 and rows == campaigns_total(campaign_id)
    stack["workers"].start()
    wait_for(campaign_id)
    assert_exactly_once(stack["fake"], campaign_id)


def campaigns_total(campaign_id: int) -> int:
    with db.session_scope() as session:
        return campaigns.get(session, campaign_id).total_recipients
