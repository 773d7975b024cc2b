"""The job runner (in-process and real Redis/RQ), log masking, and the demo seed."""

from __future__ import annotations

import json
import logging
import sys
import time

import phonenumbers
import pytest
from rq import Queue, SimpleWorker
from sqlalchemy import func, select

from core import demo, queue
from core.logs import JsonFormatter, MaskingFilter, mask_phone
from core.models import Campaign, Contact, Recipient, Segment, SegmentMember, StatusEvent, Template, User


def add(a: int, b: int) -> int:
    return a + b


def test_in_process_runner_runs_jobs(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("REDIS_URL", raising=False)
    from core.config import reload_settings

    reload_settings()
    assert not queue.uses_redis() and queue.queue_depth() is None
    assert queue.enqueue(add, 2, 3).result(timeout=10) == 5


def test_rq_runner_on_real_redis(redis_url: str) -> None:
    job = queue.enqueue(add, 20, 22, queue="test")
    assert queue.queue_depth("test") == 1 and queue.ping_redis()
    connection = queue.redis_connection()
    SimpleWorker([Queue("test", connection=connection)], connection=connection).work(burst=True)
    job.refresh()
    assert job.return_value() == 42
    assert queue.queue_depth("test") == 0


def test_phone_numbers_are_masked_in_logs(caplog) -> None:  # noqa: ANN001
    assert mask_phone("envoi à +24177280150 fait") == "envoi à +241******50 fait"
    assert mask_phone("numéro 077 28 01 50") == "numéro *******50"
    assert mask_phone("campagne 12345678, message 987654321") == "campagne 12345678, message 987654321"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sent to %s", ("+24166123456",), None)
    MaskingFilter().filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["message"] == "sent to +241******56" and "66123456" not in json.dumps(out)


def test_tracebacks_extras_text_format_and_bare_numbers_are_masked(db_url) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from core import db
    from core.logs import MaskingFormatter

    for written, masked in [("appel du 77280150 reçu", "appel du ******50 reçu"),  # a mobile without its 0
                            ("241 77 28 01 50", "*********50"), ("(+241) 77 28 01 50", "+241******50"),
                            ("phone%3A%2B24177280150", "phone%3A%2B241******50"),
                            ("phone_24177280150", "phone_*********50"),
                            ("0612345678 et 06 12 34 56 78", "********78 et ********78"),
                            ("+1 (415) 555-0100", "+141******00"), ("id 1000001 à 2026-12-02 18:55:01", None)]:
        assert mask_phone(written) == (masked or written), written
    try:
        with db.session_scope(db_url) as session:  # an engine error: the phone is a bound parameter
            session.execute(text("SELECT * FROM no_such_table WHERE phone = :p"), {"p": "+24177280150"})
    except Exception:  # noqa: BLE001
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "échec pour %s", ("077280150",), sys.exc_info())
    record.event_id = "évènement de +24166123456"
    for formatter in (MaskingFormatter("%(levelname)s %(message)s"), JsonFormatter()):
        out = formatter.format(record)
        assert "77280150" not in out and "66123456" not in out, out
    assert "[parameters" not in json.loads(JsonFormatter().format(record)).get("exc", "")  # kept out of errors


def test_demo_seed_is_realistic_and_idempotent(session) -> None:  # noqa: ANN001
    first = demo.seed(session, contacts=400)
    session.commit()
    assert first.seeded and len(first.users) == 4 and first.contacts == 400
    counts = {m.__name__: session.scalar(select(func.count()).select_from(m))
              for m in (User, Contact, Segment, Template, Campaign, Recipient, StatusEvent)}
    assert counts["Contact"] == 400 and counts["Recipient"] == first.recipients > 0
    assert counts["StatusEvent"] >= counts["Recipient"] // 2
    for phone in session.scalars(select(Contact.phone)).all():
        parsed = phonenumbers.parse(phone)
        assert phonenumbers.is_valid_number(parsed), phone
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE, phone
    # Opted-out contacts are never in a campaign's ledger.
    opted_out_in_ledger = session.scalar(
        select(func.count()).select_from(Recipient).join(Contact, Contact.id == Recipient.contact_id)
        .where(Contact.consent_status == "opted_out"))
    assert opted_out_in_ledger == 0
    assert session.scalar(select(func.count()).select_from(SegmentMember)) > 0

    second = demo.seed(session, contacts=400)
    session.commit()
    assert not second.seeded and second.users == []
    assert session.scalar(select(func.count()).select_from(Contact)) == 400
    assert session.scalar(select(func.count()).select_from(Recipient)) == counts["Recipient"]


def test_in_process_job_does_not_block(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("REDIS_URL", raising=False)
    from core.config import reload_settings

    reload_settings()
    started = time.monotonic()
    future = queue.enqueue(time.sleep, 0.5)
    assert time.monotonic() - started < 0.4
    future.result(timeout=5)


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_a_lock_is_released_and_renewed_only_by_its_owner(backend, request) -> None:  # noqa: ANN001
    if backend == "redis":
        request.getfixturevalue("redis_url")
    first = queue.acquire("owned", ttl=0.1)
    assert first is not None and queue.acquire("owned", ttl=0.1) is None
    time.sleep(0.15)  # the first holder paused past its lock
    second = queue.acquire("owned", ttl=5)
    assert second is not None
    assert not first.release() and not first.renew()  # it cannot take the second holder's lock away
    assert queue.acquire("owned", ttl=5) is None and second.renew()
    assert second.release() and queue.acquire("owned", ttl=5) is not None
