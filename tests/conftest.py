"""Fixtures: a fresh database on SQLite and on real PostgreSQL, real Redis, settings per test.

PostgreSQL and Redis are real servers on loopback. Outside CI a missing server skips its tests;
in CI (CI=true) or with CNSS_REQUIRE_SERVICES=1 it fails them, so a green run proves both ran.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from core import config, db
from core.models import Base

PG_ADMIN_URL = os.environ.get("CNSS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_TEST_URL = os.environ.get("CNSS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_SERVICES = os.environ.get("CI", "").lower() == "true" or os.environ.get("CNSS_REQUIRE_SERVICES") == "1"

# Tests never read a developer's .env nor write under data/.
for _var in ("DATABASE_URL", "REDIS_URL", "RESPONDIO_API_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_var, None)
config.Settings.model_config["env_file"] = None
# Tests run the scheduler themselves, when they want it.
os.environ["EMBEDDED_SCHEDULER"] = "false"
# ...and deliver the outbox themselves: a background delivery started by one test's commit must not
# send, under the next test's settings, that test's messages (one test keeps the hook on).
os.environ["OUTBOX_DELIVER_AFTER_COMMIT"] = "false"
# Worker processes started by tests serve no metrics unless a test asks for them (port 9101 stays free).
os.environ["WORKER_METRICS_PORT"] = "0"
# Nor load the chatbot's model on start (seconds of CPU in every process): the tests that answer load it,
# and the browser tests' app (tests/support/app_server.py) warms up as a user's would.
os.environ["RAG_WARM_UP"] = "false"


def _unavailable(what: str, err: Exception) -> None:
    message = f"{what} is not reachable: {err}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _in_process_jobs_end_with_their_test() -> Iterator[None]:
    """An outbox delivery one test's commit started in this process ends before the next test
    changes the settings (database, provider) it would read."""
    yield
    from core import outbox, queue

    queue.wait_in_process(outbox.DELIVER_JOB, timeout=30)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database made for this test session, migrated once, dropped at the end."""
    name = f"cnss_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(db.normalize_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as err:  # noqa: BLE001
        admin.dispose()
        _unavailable("PostgreSQL", err)
    url = make_url(db.normalize_url(PG_ADMIN_URL)).set(database=name).render_as_string(hide_password=False)
    db.upgrade(url)
    yield url
    db.dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_pg(url: str) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Iterator[str]:  # noqa: ANN001
    """The database URL of a fresh, migrated database; the app's settings point at it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cnss.db'}"
        db.upgrade(url)
    else:
        url = request.getfixturevalue("pg_database")
        _truncate_pg(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config.reload_settings()
    yield url
    config.reload_settings()


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch) -> Iterator[str]:  # noqa: ANN001
    """SQLite only: for tests of the screens, where the database kind is not what is tested."""
    url = f"sqlite:///{tmp_path / 'cnss.db'}"
    db.upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    config.reload_settings()
    yield url
    config.reload_settings()


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    with db.session_scope(db_url) as s:
        yield s


@pytest.fixture
def redis_url(monkeypatch) -> Iterator[str]:  # noqa: ANN001
    from redis import Redis

    client = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except Exception as err:  # noqa: BLE001
        _unavailable("Redis", err)
    client.flushdb()
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    config.reload_settings()
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()
    config.reload_settings()


@pytest.fixture
def fake_respondio():  # noqa: ANN201
    """A fake Respond.io server on loopback, stopped after the test."""
    from tests.support.fake_respondio import FakeRespondIO

    server = FakeRespondIO()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def running_app(tmp_path_factory):  # noqa: ANN001, ANN201
    """`streamlit run app.py` on the embedded default with the demo data, for the whole session."""
    from tests.support.app_server import start_app

    app = start_app(tmp_path_factory.mktemp("app"))
    yield app
    app.stop()
