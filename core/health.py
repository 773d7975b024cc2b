"""System health: what an administrator checks when something looks wrong, and the gauges the
workers' `/metrics` report. Every check is bounded in time and never raises: a broken part is a
red line on the screen, not a crash of the screen."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from core import db, fmt, inbound, ledger, outbox, queue, respondio
from core.config import get_settings
from core.models import Campaign, CampaignStatus, Recipient, WebhookEvent
from core.timeutil import format_dt, utcnow

log = logging.getLogger(__name__)
LIVE_CAMPAIGNS = (CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.SCHEDULED)
SCHEDULER_KEY = "scheduler-tick"


@dataclass
class ClusterState:
    database_up: bool = False
    queue_depth: dict[str, int] = field(default_factory=dict)
    ledger_rows: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, int] = field(default_factory=dict)
    inbound_pending: int | None = None
    workers_alive: int | None = None
    oldest_sending_seconds: float = 0.0  # 0 when nothing is being sent
    dead_letters: int = 0  # inbound events set aside, waiting for an administrator
    outbox_oldest_seconds: float = 0.0  # age of the oldest message decided but neither sent nor failed


def _rq_workers() -> list:  # type: ignore[type-arg]
    # Here, not at the top: rq is loaded only with Redis: the embedded mode never needs it.
    from rq import Worker

    return list(Worker.all(connection=queue.redis_connection()))


def cluster_state() -> ClusterState:
    """Queue depth, ledger rows of live campaigns by status (an index-only count per campaign),
    campaigns by status, inbound events waiting, RQ workers registered."""
    state = ClusterState()
    if queue.uses_redis():
        try:
            state.queue_depth = {queue.DEFAULT_QUEUE: queue.queue_depth() or 0}
            state.workers_alive = len(_rq_workers())
        except Exception as err:  # noqa: BLE001
            log.warning("Redis not readable for metrics: %s", type(err).__name__)
    try:
        with db.session_scope() as session:
            state.campaigns = {s: int(n) for s, n in session.execute(
                select(Campaign.status, func.count()).group_by(Campaign.status)).all()}
            live = select(Campaign.id).where(Campaign.status.in_(LIVE_CAMPAIGNS))
            state.ledger_rows = {s: int(n) for s, n in session.execute(
                select(Recipient.status, func.count()).where(Recipient.campaign_id.in_(live))
                .group_by(Recipient.status)).all()}
            state.inbound_pending = inbound.pending_count(session)
            state.dead_letters = inbound.dead_letter_count(session)
            oldest = ledger.oldest_sending(session)
            state.oldest_sending_seconds = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
            waiting = outbox.oldest_open(session)
            state.outbox_oldest_seconds = max(0.0, (utcnow() - waiting).total_seconds()) if waiting else 0.0
            state.database_up = True
    except Exception as err:  # noqa: BLE001
        log.warning("Database not readable for metrics: %s", type(err).__name__)
    return state


@dataclass(frozen=True)
class Check:
    name: str  # French, for the screen
    ok: bool | None  # None: information only (nothing to fix)
    detail: str  # French
    seconds: float = 0.0


def _timed(name: str, probe) -> Check:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as err:  # noqa: BLE001 - a failing part is reported, never raised
        log.warning("Health check %r failed: %s: %s", name, type(err).__name__, err)
        ok, detail = False, f"Erreur : {type(err).__name__}"
    return Check(name, ok, detail, time.perf_counter() - started)


def _database() -> tuple[bool, str]:
    with db.session_scope() as session:
        session.execute(text("SELECT 1"))
        kind = session.get_bind().dialect.name
    current, head = db.current_revision(), db.head_revision()
    label = "PostgreSQL" if kind == "postgresql" else "SQLite (mode intégré)"
    if current != head:
        return False, f"{label} : schéma en version {current}, attendu {head}. Lancez « python -m core db upgrade »."
    return True, f"{label} : joignable, schéma à jour ({head})."


def _redis() -> tuple[bool | None, str]:
    if not queue.uses_redis():
        return None, "Non utilisé : les tâches tournent dans l'application (mode intégré)."
    if queue.ping_redis():
        return True, "Joignable."
    return False, "Redis ne répond pas : les envois et le traitement des webhooks sont à l'arrêt."


def _workers() -> tuple[bool | None, str]:
    if not queue.uses_redis():
        alive = queue.embedded_scheduler_alive()
        if alive:
            return True, "Planificateur intégré actif dans l'application."
        if not get_settings().embedded_scheduler:
            return None, "Planificateur intégré désactivé (EMBEDDED_SCHEDULER=false)."
        return False, "Le planificateur intégré ne tourne pas : redémarrez l'application."
    workers = _rq_workers()
    if not workers:
        return False, "Aucun worker enregistré : lancez « python -m workers »."
    busy = sum(1 for w in workers if w.get_state() == "busy")
    scheduler = "planificateur actif" if queue.alive(SCHEDULER_KEY) else "planificateur silencieux"
    return True, f"{len(workers)} worker(s) en vie, dont {busy} occupé(s) ; {scheduler}."


def _queue() -> tuple[bool | None, str]:
    depth = queue.queue_depth()
    if depth is None:
        return None, "Pas de file Redis (mode intégré)."
    return (depth < 1000), f"{depth} tâche(s) en attente."


def _provider() -> tuple[bool | None, str]:
    settings = get_settings()
    if settings.sandbox:
        return None, "Bac à sable : aucun message réel n'est envoyé (RESPONDIO_API_TOKEN non défini)."
    client = respondio.RespondIO(settings.respondio_api_token.get_secret_value(),  # type: ignore[union-attr]
                                 base_url=settings.respondio_base_url, channel_id=settings.respondio_channel_id,
                                 timeout=5.0, max_retries=0)  # (a short timeout: the screen waits for it)
    with contextlib.closing(client):
        channels = client.list_channels()
    ids = {str(c.get("id")) for c in channels}
    if settings.respondio_channel_id is not None and str(settings.respondio_channel_id) not in ids:
        return False, (f"Respond.io joignable, mais le canal {settings.respondio_channel_id} n'existe pas dans "
                       "l'espace de travail : vérifiez RESPONDIO_CHANNEL_ID.")
    return True, f"Respond.io joignable ({len(channels)} canal/canaux)."


def _webhooks() -> tuple[bool | None, str]:
    with db.session_scope() as session:
        last: datetime | None = session.scalar(select(func.max(WebhookEvent.received_at)))
        waiting = inbound.pending_count(session)
    if last is None:
        return None, "Aucun webhook reçu pour l'instant."
    age = (utcnow() - last).total_seconds()
    detail = f"Dernier webhook reçu le {format_dt(last, with_seconds=True)} ; {waiting} événement(s) à traiter."
    return (waiting < 1000 or age < 60), detail


def _sending() -> tuple[bool | None, str]:
    """The oldest send still in progress: past the bound, something keeps it from being settled."""
    with db.session_scope() as session:
        oldest = ledger.oldest_sending(session)
    if oldest is None:
        return None, "Aucun envoi en cours."
    bound = get_settings().sending_max_minutes
    age = max(0.0, (utcnow() - oldest).total_seconds())
    detail = f"Le plus ancien envoi en cours a commencé il y a {_age(age)} (limite : {fmt.decimal(bound)} min)."
    if age > bound * 60 + 2 * get_settings().scheduler_interval_seconds:
        return False, detail + " Les envois ne sont plus vérifiés : le planificateur tourne-t-il ?"
    return True, detail


def _outbox() -> tuple[bool | None, str]:
    """Confirmations, bot answers and agents' replies: the oldest one not yet sent, and the failures
    of the last day (each shown in its conversation)."""
    settings = get_settings()
    with db.session_scope() as session:
        oldest = outbox.oldest_open(session)
        failed = outbox.failed_since(session, utcnow() - timedelta(days=1))
    failures = f" {failed} échec(s) depuis 24 h." if failed else ""
    if oldest is None:
        return (None if not failed else True), "Aucun message en attente d'envoi." + failures
    age = max(0.0, (utcnow() - oldest).total_seconds())
    detail = (f"Le plus ancien message en attente a été décidé il y a {_age(age)} "
              f"(limite : {fmt.decimal(settings.outbox_max_minutes)} min).{failures}")
    if age > settings.outbox_max_minutes * 60 + 2 * settings.scheduler_interval_seconds + 60:
        return False, detail + " Les messages ne partent plus : les workers et le planificateur tournent-ils ?"
    return True, detail


def _dead_letters() -> tuple[bool, str]:
    with db.session_scope() as session:
        count = inbound.dead_letter_count(session)
    if not count:
        return True, "Aucun événement mis de côté."
    return False, (f"{count} événement(s) Respond.io mis de côté après plusieurs échecs : examinez-les plus bas, "
                   "puis réessayez-les ou écartez-les.")


def _age(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d}"


def checks() -> list[Check]:
    """Every check, in the order of the screen."""
    return [
        _timed("Base de données", _database),
        _timed("Redis", _redis),
        _timed("Workers", _workers),
        _timed("File d'attente", _queue),
        _timed("Envois en cours", _sending),
        _timed("Messages hors campagne", _outbox),
        _timed("Fournisseur WhatsApp", _provider),
        _timed("Webhooks Respond.io", _webhooks),
        _timed("Événements mis de côté", _dead_letters),
    ]
