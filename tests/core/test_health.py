"""The system health checks and the gauges behind the workers' metrics, against real parts: the
database (SQLite and PostgreSQL), Redis with and without a registered RQ worker, the fake
Respond.io server (reachable, wrong channel, gone)."""

from __future__ import annotations

from rq import Queue, SimpleWorker

from core import campaigns, config, db, health, inbound, queue
from tests.campaign_fixtures import make_audience, make_campaign


def by_name() -> dict[str, health.Check]:
    return {check.name: check for check in health.checks()}


def test_embedded_mode_reports_what_applies(db_url: str) -> None:
    checks = by_name()
    assert checks["Base de données"].ok is True and "schéma à jour" in checks["Base de données"].detail
    assert checks["Redis"].ok is None and "mode intégré" in checks["Redis"].detail
    assert checks["Fournisseur WhatsApp"].ok is None and "Bac à sable" in checks["Fournisseur WhatsApp"].detail
    assert checks["Webhooks Respond.io"].ok is None and checks["Webhooks Respond.io"].detail == \
        "Aucun webhook reçu pour l'instant."
    with db.session_scope() as session:
        inbound.store(session, [inbound.Event("h-1", "contact.updated", {"contact": {"phone": "+24177000001"}})])
    webhooks = by_name()["Webhooks Respond.io"]
    assert webhooks.ok is True and "Dernier webhook reçu le" in webhooks.detail and "1 événement(s)" in webhooks.detail


def test_redis_workers_and_queue(db_url: str, redis_url: str) -> None:
    checks = by_name()
    assert checks["Redis"].ok is True
    assert checks["Workers"].ok is False and "Aucun worker" in checks["Workers"].detail
    assert checks["File d'attente"].ok is True and checks["File d'attente"].detail == "0 tâche(s) en attente."
    connection = queue.redis_connection()
    worker = SimpleWorker([Queue("default", connection=connection)], connection=connection, name="sante-1")
    worker.register_birth()
    try:
        queue.enqueue("core.text.fold", "É")
        checks = by_name()
        assert checks["Workers"].ok is True and checks["Workers"].detail.startswith("1 worker(s) en vie")
        assert checks["File d'attente"].detail == "1 tâche(s) en attente."
        state = health.cluster_state()
        assert state.workers_alive == 1 and state.queue_depth == {"default": 1}
    finally:
        worker.register_death()


def test_the_provider_check_reaches_respondio(db_url: str, fake_respondio, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RESPONDIO_API_TOKEN", fake_respondio.token)
    monkeypatch.setenv("RESPONDIO_BASE_URL", fake_respondio.base_url)
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", str(fake_respondio.channel_id))
    config.reload_settings()
    assert by_name()["Fournisseur WhatsApp"].ok is True
    monkeypatch.setenv("RESPONDIO_CHANNEL_ID", "999")
    config.reload_settings()
    wrong = by_name()["Fournisseur WhatsApp"]
    assert wrong.ok is False and "le canal 999 n'existe pas" in wrong.detail
    fake_respondio.stop()
    gone = by_name()["Fournisseur WhatsApp"]
    assert gone.ok is False and gone.detail.startswith("Erreur : ProviderError")


def test_cluster_state_counts_rows_of_live_campaigns_only(db_url: str) -> None:
    with db.session_scope() as session:
        audience = make_audience(session, size=20)
        running = make_campaign(session, audience, name="En cours")
        campaigns.launch(session, running)
        make_campaign(session, audience, name="Brouillon")
    state = health.cluster_state()
    assert state.database_up and state.campaigns == {"running": 1, "draft": 1}
    assert state.ledger_rows == {"pending": audience.reachable - len(audience.no_agency_ids),
                                 "skipped": len(audience.no_agency_ids)}
