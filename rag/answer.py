"""Grounded French answers: hybrid retrieval, a confidence threshold below which the bot refuses,
then an LLM told to answer only from the numbered passages (any OpenAI-compatible server), or,
without a key or when the LLM fails, an extractive answer made of the best passages."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import get_settings
from core.text import fold
from rag.index import Index, Passage, Retrieval
from rag.store import default_store
from rag.text import tokens

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)
CALL_CENTRE = "1432"
REFUSAL = ("Je n'ai pas trouvé la réponse à cette question dans les documents de la CNSS. Pour une réponse "
           f"fiable, appelez le centre d'appel au {CALL_CENTRE}, ou écrivez « conseiller » pour parler à un agent.")
EXTRACTIVE_HEADER = "Voici ce que disent les documents de la CNSS (extraits, sans reformulation) :"
NOT_FOUND = "NON_TROUVE"
SYSTEM_PROMPT = f"""Tu es l'assistant virtuel de la CNSS du Gabon (Caisse Nationale de Sécurité Sociale).
Tu réponds en français, poliment et brièvement (5 phrases au plus), à la question d'un assuré, d'un
pensionné ou d'un employeur, UNIQUEMENT à partir des passages numérotés fournis.
Règles :
- N'utilise aucune connaissance extérieure aux passages. N'invente ni montant, ni délai, ni âge, ni date.
- Cite tes sources par leur numéro entre crochets, par exemple [1] ou [2][3], après chaque information.
- Si les passages ne permettent pas de répondre, réponds exactement {NOT_FOUND} et rien d'autre.
- Pour ce que les passages renvoient au centre d'appel, indique le {CALL_CENTRE}.
- Ne demande jamais de mot de passe ni de code."""
REWRITE_PROMPT = """Réécris la dernière question de l'utilisateur pour qu'elle se comprenne seule, en
t'appuyant sur l'échange précédent. Réponds uniquement par la question réécrite, en français."""


@dataclass
class Answer:
    text: str
    sources: list[dict[str, Any]]
    refused: bool
    scores: dict[str, float]
    latency_ms: int
    extractive: bool
    question_used: str = ""
    passages: list[Passage] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"answer": self.text, "sources": [{"document": s["source"] or s["document"], "chunk": s["chunk"],
                                                  "score": s["score"],
                                                  "title": s["title"], "location": s["location"]}
                                                 for s in self.sources],
                "refused": self.refused, "extractive": self.extractive, "confidence": self.scores.get("confidence"),
                "latency_ms": self.latency_ms}


_index: Index | None = None
_index_lock = threading.Lock()


def default_index() -> Index:
    global _index

    with _index_lock:
        store = default_store()
        if _index is None or _index.store is not store:
            _index = Index(store)
        return _index


_warmed = threading.Event()
_warm_lock = threading.Lock()


def warm_up() -> float | None:
    """Load now what the first answer would otherwise wait for: torch and the embedding model, the
    vector store, the keyword index (built from every passage). Once per process; returns the
    seconds it took (None if it was done already or failed: the first answer then loads it)."""
    with _warm_lock:
        if _warmed.is_set():
            return None
        started = time.perf_counter()
        try:
            default_index().search("cotisations et prestations de la CNSS")  # a query encoded, both indexes open
        except Exception:  # a broken knowledge base is reported by the health check and by the answer itself
            log.exception("Chatbot warm-up failed: the first answer will load what it needs")
            return None
        _warmed.set()
        seconds = time.perf_counter() - started
        log.info("Chatbot ready in %.1f s (model, vector store and keyword index loaded)", seconds)
        return seconds


def warm_up_in_background() -> threading.Thread | None:
    """`warm_up` in a daemon thread (app or worker start), if RAG_WARM_UP allows it. An answer asked
    meanwhile waits for the model's lock rather than loading it a second time."""
    if not get_settings().rag_warm_up or _warmed.is_set():
        return None
    thread = threading.Thread(target=warm_up, name="rag-warm-up", daemon=True)
    thread.start()
    return thread


def _client() -> OpenAI | None:
    settings = get_settings()
    if settings.openai_api_key is None:
        return None
    # Here, not at the top: the LLM client only when an LLM key is set.
    from openai import OpenAI

    return OpenAI(api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url,
                  timeout=settings.openai_timeout_seconds, max_retries=0)


def _standalone(question: str, history: list[dict[str, str]], client: Any) -> str:
    """A follow-up ("et pour les enfants ?") made explicit from the conversation."""
    earlier = [h["content"] for h in history if h.get("role") == "user" and h.get("content")]
    if not earlier:
        return question
    if client is not None:
        try:
            transcript = "\n".join(f"{'Utilisateur' if h.get('role') == 'user' else 'Assistant'} : {h.get('content')}"
                                   for h in history[-6:])
            result = client.chat.completions.create(
                model=get_settings().openai_model, temperature=0,
                messages=[{"role": "system", "content": REWRITE_PROMPT},
                          {"role": "user", "content": f"{transcript}\nUtilisateur : {question}"}])
            rewritten = (result.choices[0].message.content or "").strip()
            if rewritten:
                return rewritten
        except Exception as err:  # noqa: BLE001 - the plain question still works
            log.warning("Question rewriting failed (%s): using the last questions as they are", type(err).__name__)

    # Without an LLM: a short question that reads as a continuation ("et pour…", "aussi…") borrows
    # the words of the previous one; a short new question ("capitale du Japon ?") stands alone.
    if _FOLLOW_UP.match(fold(question)) and len(tokens(question)) < 4:
        return f"{earlier[-1]} {question}"
    return question


_FOLLOW_UP = re.compile(r"^\W*(et|mais|aussi|alors|puis|ensuite|pour|dans ce cas|sinon|meme chose)\b")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n+")


def _best_sentences(text: str, question: str, limit: int = 420) -> str:
    """The sentences of a passage that share the most stems with the question, in their order,
    within `limit` characters (the passage's head when nothing matches)."""
    sentences = [" ".join(x.split()) for x in _SENTENCE.split(text) if x.strip()]
    wanted = set(tokens(question))
    scored = sorted(range(len(sentences)), key=lambda n: (-len(wanted & set(tokens(sentences[n]))), n))
    chosen: list[int] = []
    size = 0
    for n in scored:
        if size + len(sentences[n]) > limit and chosen:
            continue
        chosen.append(n)
        size += len(sentences[n]) + 1
    out = " ".join(sentences[n] for n in sorted(chosen))
    return out if len(out) <= limit else out[:limit].rsplit(" ", 1)[0] + " …"


EXTRACTIVE_PASSAGES = 2


def extractive(passages: list[Passage], question: str = "") -> str:
    lines = [EXTRACTIVE_HEADER]
    for n, passage in enumerate(passages[:EXTRACTIVE_PASSAGES], 1):
        where = f", {passage.location}" if passage.location else ""
        body = passage.text
        if passage.location and body.startswith(passage.location + "\n"):
            body = body[len(passage.location) + 1:]  # the heading is given with the source
        lines.append(f"[{n}] {_best_sentences(body, question)} (« {passage.title} »{where})")
    lines.append(f"Pour un cas particulier, appelez le {CALL_CENTRE}.")
    return "\n\n".join(lines)


def _generate(question: str, passages: list[Passage], client: Any) -> str | None:
    context = "\n\n".join(f"[{n}] ({p.title}{', ' + p.location if p.location else ''})\n{p.text}"
                          for n, p in enumerate(passages, 1))
    result = client.chat.completions.create(
        model=get_settings().openai_model, temperature=0.1,
        messages=[{"role": "system", "content": SYSTEM_PROMPT},
                  {"role": "user", "content": f"Passages :\n{context}\n\nQuestion : {question}"}])
    text = (result.choices[0].message.content or "").strip()
    if not text or NOT_FOUND in text:
        return None
    return text


def answer(question: str, history: list[dict[str, str]] | None = None, *, index: Index | None = None) -> Answer:
    """The chatbot's one function: a grounded answer with its sources, or a refusal."""
    started = time.perf_counter()
    settings = get_settings()
    question = " ".join((question or "").split())
    index = index or default_index()
    if not question:
        return Answer(REFUSAL, [], True, {"confidence": 0.0}, 0, True, question)
    client = _client()
    used = _standalone(question, history or [], client)
    retrieval: Retrieval = index.search(used)
    scores = {"confidence": retrieval.confidence, "retrieval_ms": round(retrieval.latency_ms, 1), **retrieval.details}
    passages = retrieval.passages
    sources = [dict(p.as_source(), n=n) for n, p in enumerate(passages, 1)]

    def done(text: str, refused: bool, is_extractive: bool) -> Answer:
        return Answer(text, [] if refused else sources, refused, scores, int((time.perf_counter() - started) * 1000),
                      is_extractive, used, [] if refused else passages)

    if not passages or retrieval.confidence < settings.rag_min_confidence:
        return done(REFUSAL, True, client is None)
    if client is not None:
        try:
            text = _generate(used, passages, client)
        except Exception as err:  # noqa: BLE001 - timeouts, HTTP errors, bad answers: extractive instead
            log.warning("LLM call failed (%s): extractive answer instead", type(err).__name__)
        else:
            if text is None:
                return done(REFUSAL, True, False)
            cited = {int(n) for n in re.findall(r"\[(\d+)\]", text) if 0 < int(n) <= len(passages)}
            if cited:
                sources[:] = [s for s in sources if s["n"] in cited]
            return done(text, False, False)
    sources[:] = sources[:EXTRACTIVE_PASSAGES]
    return done(extractive(passages, used), False, True)
