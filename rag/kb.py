"""The knowledge base the chatbot answers from: documents stored under DATA_DIR/kb, listed in the
`kb_documents` table, indexed in the configured vector store. Re-indexing an unchanged document
does nothing (content hash); a disabled document is taken out of the index."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core import audit, db, queue
from core.config import get_settings
from core.errors import NotFound, UserError
from core.models import KnowledgeDocument, Role, Setting, User
from core.timeutil import utcnow
from rag import answer as answering
from rag import embeddings, evaluation
from rag import store as store_mod
from rag.index import Index, content_hash
from rag.loaders import SUPPORTED, LoadError, load, title_of
from rag.store import Record, default_store

log = logging.getLogger(__name__)
MAX_BYTES = 20 * 1024 * 1024
CORPUS = Path(__file__).resolve().parent / "corpus"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def files_dir() -> Path:
    path = get_settings().data_dir / "kb"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _stored_path(document: KnowledgeDocument) -> Path:
    return files_dir() / f"{document.id}_{_SAFE.sub('_', document.filename)}"


# --- the index of this process, kept in step with the table --------------------------------------

_state: dict[str, Any] = {"index": None, "signature": None, "checked": 0.0}
_state_lock = threading.Lock()


def _signature(session: Session) -> tuple[Any, ...]:
    row = session.execute(select(func.count(), func.max(KnowledgeDocument.updated_at),
                                 func.max(KnowledgeDocument.indexed_at))).one()
    return tuple(row)


def current_index(session: Session | None = None, *, max_age: float = 5.0) -> Index:
    """This process's index; when another process changed the knowledge base, the store is
    reopened and the keyword index rebuilt (checked at most every `max_age` seconds)."""
    with _state_lock:
        now = time.monotonic()
        if _state["index"] is not None and now - _state["checked"] < max_age:
            return cast(Index, _state["index"])
        _state["checked"] = now
        if session is None:
            with db.session_scope() as own:
                signature = _signature(own)
        else:
            signature = _signature(session)
        if _state["index"] is None or signature != _state["signature"] or _state["index"].store is not default_store():
            if _state["index"] is not None and signature != _state["signature"]:
                store_mod._default = None  # reopen: another process wrote to the store
            _state["index"] = Index(default_store())
            _state["signature"] = signature
        return cast(Index, _state["index"])


def _touched(session: Session) -> None:
    with _state_lock:
        _state["signature"] = _signature(session)
        _state["checked"] = time.monotonic()
        if _state["index"] is not None:
            _state["index"].invalidate()


# --- documents -------------------------------------------------------------------------------

@dataclass(frozen=True)
class IngestResult:
    document_id: int
    filename: str
    chunks: int
    status: str  # created | updated | unchanged


def ingest(session: Session, filename: str, data: bytes, *, title: str | None = None,
           actor: User | None = None) -> IngestResult:
    """Store and index one document. The same content again changes nothing."""
    filename = Path(filename).name.strip()
    if Path(filename).suffix.lower() not in SUPPORTED:
        raise UserError(f"« {filename} » : format non pris en charge. Formats acceptés : PDF, Word (.docx), "
                        "texte, Markdown, HTML.")
    if not data:
        raise UserError(f"« {filename} » est vide.")
    if len(data) > MAX_BYTES:
        raise UserError(f"« {filename} » dépasse {MAX_BYTES // (1024 * 1024)} Mo.")
    digest = content_hash(data)
    document = session.scalar(select(KnowledgeDocument).where(KnowledgeDocument.filename == filename))
    index = current_index(session)
    if document is not None and document.content_hash == digest and document.indexed_at is not None \
            and (not document.enabled or index.store.count({"document": str(document.id)}) == document.chunk_count):
        return IngestResult(document.id, filename, document.chunk_count, "unchanged")
    status = "updated" if document is not None else "created"
    if document is None:
        document = KnowledgeDocument(filename=filename, title=title or "", content_hash=digest, enabled=True,
                                     uploaded_by=actor.id if actor else None)
        session.add(document)
        session.flush()
    path = _stored_path(document)
    # Read from a file beside the stored one, which it replaces only once read: a refused update
    # leaves the document as it was (file included).
    incoming = path.with_name(f".incoming-{uuid.uuid4().hex}-{path.name}")
    incoming.write_bytes(data)
    try:
        sections = load(incoming, filename)
    except LoadError as err:
        incoming.unlink(missing_ok=True)
        raise UserError(str(err)) from err
    os.replace(incoming, path)
    document.title = title or document.title or title_of(Path(filename), sections)
    document.mime_type = SUPPORTED[Path(filename).suffix.lower()]
    document.size_bytes = len(data)
    document.content_hash = digest
    document.chunk_count = index.add_document(str(document.id), path, title=document.title, sections=sections,
                                                 source=filename) \
        if document.enabled else 0
    document.indexed_at = utcnow()
    document.updated_at = utcnow()
    session.flush()
    _touched(session)
    audit.record(session, "kb_document_indexed", actor=actor, actor_email=None if actor else "cli",
                 target_type="kb_document", target_id=document.id,
                 details={"filename": filename, "chunks": document.chunk_count, "status": status})
    log.info("Knowledge base: %s %s (%d chunks)", filename, status, document.chunk_count)
    return IngestResult(document.id, filename, document.chunk_count, status)


def ingest_path(session: Session, path: Path, *, actor: User | None = None) -> IngestResult:
    return ingest(session, path.name, path.read_bytes(), actor=actor)


def get(session: Session, document_id: int) -> KnowledgeDocument:
    document = session.get(KnowledgeDocument, document_id)
    if document is None:
        raise NotFound("Ce document n'existe plus.")
    return document


def list_documents(session: Session) -> list[KnowledgeDocument]:
    return list(session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.title)).all())


def chunks(document: KnowledgeDocument) -> list[Record]:
    records = current_index().store.records({"document": str(document.id)})
    return sorted(records, key=lambda r: int(r.metadata.get("chunk", 0)))


def reindex(session: Session, document: KnowledgeDocument, *, actor: User | None = None) -> int:
    path = _stored_path(document)
    if not path.exists():
        raise UserError("Le fichier de ce document est introuvable : chargez-le de nouveau.")
    document.chunk_count = current_index(session).add_document(str(document.id), path, title=document.title,
                                                                source=document.filename) \
        if document.enabled else 0
    document.indexed_at = document.updated_at = utcnow()
    session.flush()
    _touched(session)
    audit.record(session, "kb_document_indexed", actor=actor, target_type="kb_document", target_id=document.id,
                 details={"filename": document.filename, "chunks": document.chunk_count, "status": "reindexed"})
    return document.chunk_count


def set_enabled(session: Session, document: KnowledgeDocument, enabled: bool, *, actor: User | None = None) -> None:
    """A disabled document stays listed but the chatbot no longer uses it."""
    if document.enabled == enabled:
        return
    document.enabled = enabled
    if enabled:
        reindex(session, document, actor=actor)
    else:
        current_index(session).remove_document(str(document.id))
        document.chunk_count = 0
        document.updated_at = utcnow()
        session.flush()
        _touched(session)
    audit.record(session, "kb_document_enabled" if enabled else "kb_document_disabled", actor=actor,
                 target_type="kb_document", target_id=document.id, details={"filename": document.filename})


def delete(session: Session, document: KnowledgeDocument, *, actor: User | None = None) -> None:
    current_index(session).remove_document(str(document.id))
    _stored_path(document).unlink(missing_ok=True)
    audit.record(session, "kb_document_deleted", actor=actor, target_type="kb_document", target_id=document.id,
                 details={"filename": document.filename})
    session.delete(document)
    session.flush()
    _touched(session)


def seed_demo(session: Session) -> int:
    """The shipped demo knowledge base (rag/corpus), indexed once; returns the documents added."""
    added = 0
    for path in sorted(CORPUS.glob("*.md")):
        added += ingest_path(session, path).status != "unchanged"
    return added


def reindex_missing(session: Session) -> int:
    """Index again every enabled document whose passages the vector store lacks (the embedding
    model changed, so its collection is new, or the store was lost); returns how many. Idempotent:
    two processes doing it at once write the same passages."""
    store = current_index(session).store
    done = 0
    for document in session.scalars(select(KnowledgeDocument).where(KnowledgeDocument.enabled.is_(True))):
        if store.count({"document": str(document.id)}) == document.chunk_count:
            continue
        try:
            with session.begin_nested():
                reindex(session, document)
            done += 1
        except Exception as err:  # noqa: BLE001 - one unreadable file must not keep the others unindexed
            log.warning("Knowledge base: %s could not be indexed again: %s: %s", document.filename,
                        type(err).__name__, err)
    if done:
        log.info("Knowledge base: %d documents indexed again for the model %s", done, embeddings.model_name())
    return done


def warm_up() -> float | None:
    """At a process's start: the documents indexed for the current model, then the chatbot loaded
    (`answer.warm_up`)."""
    try:
        with db.session_scope() as session:
            reindex_missing(session)
    except Exception:  # a broken knowledge base is reported by the health check and by the answer itself
        log.exception("Knowledge base check at start failed")
    return answering.warm_up()


# --- the latest evaluation of the live base ------------------------------------------------------

EVALUATION_KEY = "kb_evaluation"
EVALUATION_STALE_SECONDS = 180  # a run silent this long is taken as dead (its process stopped): a new one may start


def latest_evaluation(session: Session) -> dict[str, Any] | None:
    row = session.get(Setting, EVALUATION_KEY)
    return dict(row.value) if row is not None and row.value else None


def _evaluation_state(value: dict[str, Any]) -> None:
    with db.session_scope() as session:
        row = session.get(Setting, EVALUATION_KEY)
        if row is None:
            session.add(Setting(key=EVALUATION_KEY, value=value))
        else:
            row.value = value


def start_evaluation(session: Session, *, actor: User | None = None) -> None:
    """Queue an evaluation of the live base (the demo questions against the documents the chatbot
    uses now); one at a time. Its progress and figures are read with `latest_evaluation`."""
    if actor is not None and actor.role not in (Role.ADMIN, Role.MANAGER):
        raise UserError("Seuls les responsables et les administrateurs lancent une évaluation.")
    row = session.get(Setting, EVALUATION_KEY)
    if row is not None:
        db.lock_for_write(session, row)  # two clicks at once: the second sees the first's run
    if row is not None and row.value.get("status") == "running":
        beat = datetime.fromisoformat(str(row.value.get("updated_at")))
        if (utcnow() - beat).total_seconds() < EVALUATION_STALE_SECONDS:
            raise UserError("Une évaluation est déjà en cours : attendez qu'elle se termine.")
    cases = evaluation.read_questions(evaluation.QUESTIONS)
    value = {"status": "running", "done": 0, "total": len(cases), "started_at": utcnow().isoformat(),
             "updated_at": utcnow().isoformat(), "by": actor.name if actor else "cli",
             "previous": (row.value.get("figures") or row.value.get("previous")) if row is not None and row.value
             else None}
    if row is None:
        session.add(Setting(key=EVALUATION_KEY, value=value, updated_by=actor.id if actor else None))
    else:
        row.value = value
        row.updated_by = actor.id if actor else None
    session.flush()
    audit.record(session, "kb_evaluation_started", actor=actor, actor_email=None if actor else "cli",
                 target_type="kb", details={"questions": len(cases)})
    # Queued once the "running" state is committed (the job reads it); if the queue is away, the
    # state goes stale and a new run can be asked for.
    event.listen(session, "after_commit", lambda _: queue.enqueue("rag.kb.run_evaluation", job_timeout=3600),
                 once=True)


def run_evaluation() -> dict[str, Any]:
    """The job: every question of the evaluation set against the live base, progress written every
    few questions, then the figures and each question's result (or the failure)."""
    state: dict[str, Any] = {}
    with db.session_scope() as session:
        state = latest_evaluation(session) or {}
    started = time.perf_counter()

    def progress(n: int, total: int) -> None:
        if n % 5 == 0:
            _evaluation_state({**state, "done": n, "total": total, "updated_at": utcnow().isoformat()})

    try:
        result = evaluation.evaluate(current_index(), evaluation.read_questions(evaluation.QUESTIONS), progress,
                                     key="source")
    except Exception as err:
        log.exception("Knowledge base evaluation failed")
        _evaluation_state({**state, "status": "failed", "error": type(err).__name__,
                           "updated_at": utcnow().isoformat(), "finished_at": utcnow().isoformat()})
        raise
    rows = [{k: r[k] for k in ("question", "gold", "ranked", "confidence", "refused")} for r in result.pop("rows")]
    value = {**state, "status": "done", "done": result["n"], "total": result["n"], "figures": result, "rows": rows,
             "seconds": round(time.perf_counter() - started, 1), "updated_at": utcnow().isoformat(),
             "finished_at": utcnow().isoformat()}
    _evaluation_state(value)
    log.info("Knowledge base evaluated: hit@3 %s, MRR %s, refusals %s / %s", result["hit@3"], result["mrr"],
             result["refusal_precision"], result["refusal_recall"])
    return value


def ask(question: str, history: list[dict[str, str]] | None = None) -> answering.Answer:
    """The chatbot's answer from the current knowledge base."""
    return answering.answer(question, history, index=current_index())
