"""Grounded French answers: hybrid retrieval, a confidence (`rag.refusal`) below which the bot
refuses (saying who can help: the CNAMGS for health insurance when the documents name it, the 1432
otherwise), then an LLM told to answer only from the numbered passages (any OpenAI-compatible
server) whose answer is checked against them (a number or a statement they do not hold, or no
citation, and the answer is replaced by a refusal), or, without a key or when the LLM fails, an
extractive answer: whole sentences of the best passages, never boilerplate, with title and section."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import get_settings
from core.text import fold
from rag import refusal
from rag.index import BOILERPLATE, Index, Passage, Retrieval
from rag.store import default_store
from rag.text import normalize_query, tokens

if TYPE_CHECKING:
    from openai import OpenAI

log = logging.getLogger(__name__)
CALL_CENTRE = "1432"
REFUSAL = ("Je n'ai pas trouvé la réponse à cette question dans les documents de la CNSS. Pour une réponse "
           f"fiable, appelez le centre d'appel au {CALL_CENTRE}, ou écrivez « conseiller » pour parler à un agent.")


def refusal_text(question: str, index: Index | None) -> str:
    """The refusal, with the body that can help when the question is theirs and the documents say
    so (the CNAMGS for health insurance); the call centre otherwise."""
    if index is not None and refusal.elsewhere(question) == "CNAMGS" and index.mentions("CNAMGS"):
        return (f"{refusal.REFERRALS['CNAMGS']} Pour une question sur vos droits à la CNSS, appelez le "
                f"{CALL_CENTRE}, ou écrivez « conseiller » pour parler à un agent.")
    return REFUSAL
MAX_QUESTION_CHARS = 600
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
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý0-9«(\-])|\n+")
SENTENCE_LIMIT = 700  # one sentence or list item longer than this is cut (at a word)


def sentences(text: str) -> list[str]:
    """Sentences and list items (a list item is one line, continuation lines joined at loading)."""
    return [" ".join(x.split()) for x in _SENTENCE.split(text) if x.strip()]


def _best_sentences(text: str, question: str, limit: int = 480, skip: frozenset[str] = frozenset()) -> str:
    """The sentences of a passage that share the most stems with the question, in their order,
    within `limit` characters but never cut (the best one is given whole, whatever its length, up
    to SENTENCE_LIMIT); boilerplate sentences are never chosen."""
    found = [x for x in sentences(text) if " ".join(fold(x).split()) not in skip and not BOILERPLATE.search(fold(x))]
    wanted = set(tokens(question))
    scored = sorted(range(len(found)), key=lambda n: (-len(wanted & set(tokens(found[n]))), n))
    chosen: list[int] = []
    size = 0
    for n in scored:
        if size + len(found[n]) > limit and chosen:
            continue
        chosen.append(n)
        size += len(found[n]) + 1
    out = " ".join(found[n] for n in sorted(chosen))
    return out if len(out) <= SENTENCE_LIMIT else out[:SENTENCE_LIMIT].rsplit(" ", 1)[0] + " …"


EXTRACTIVE_PASSAGES = 2


def extractive(passages: list[Passage], question: str = "", skip: frozenset[str] = frozenset()) -> str:
    lines = [EXTRACTIVE_HEADER]
    for n, passage in enumerate(passages[:EXTRACTIVE_PASSAGES], 1):
        where = f", {passage.location}" if passage.location else ""
        body = passage.text
        if passage.location and body.startswith(passage.location + "\n"):
            body = body[len(passage.location) + 1:]  # the heading is given with the source
        lines.append(f"[{n}] {_best_sentences(body, question, skip=skip)} (« {passage.title} »{where})")
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


# Words any answer may use without the passages saying them.
ANSWER_WORDS = ("appelez centre appel conseiller agent agence document vaut valoir élève correspond peut pouvez "
                "devez doit faut permet recevoir obtenir bénéficier demander présenter fournir joindre selon ainsi "
                "également oui non aussi donc vous votre vos droit cas question réponse informations précise indique")
SUPPORTED_SHARE = 0.6  # of an answer's words found in its passages, the question or the words above
# A number: thousands grouped by a space, a no-break space or a dot (`8 000`, `8.000`), an optional
# decimal part after a comma or a point (`2,5`); `6 000, 7 500` is two numbers.
_NUMBER = re.compile(r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?:,\d+)?(?!\d)|\d+(?:[.,]\d+)?")


def _numbers(text: str) -> set[str]:
    """The numbers of a text as values (`8 000` = `8000` = `8.000`; `2,5` = `2.5`, not `25`)."""
    found = set()
    for match in _NUMBER.findall(text):
        grouped = re.fullmatch(r"\d{1,3}(?:[ \u00a0\u202f.]\d{3})+(?:,\d+)?", match)
        value = re.sub(r"[ \u00a0\u202f.]", "", match) if grouped else match
        found.add(value.replace(",", ".").rstrip("0").rstrip(".") if "," in value or "." in value else value)
    return found


_CITATION = re.compile(r"\[(\d+)\]")


def supported(text: str, passages: list[Passage], question: str = "") -> bool:
    """Whether a generated answer says only what the passages say: it cites at least one of them,
    every number in it appears in them (or in the question), and most of its words are theirs."""
    cited = {int(n) for n in _CITATION.findall(text) if 0 < int(n) <= len(passages)}
    if not cited:
        return False
    source = " ".join(f"{p.title} {p.location} {p.text}" for p in passages)
    # Only the passages vouch for a number (one the person wrote in the question does not).
    if not _numbers(_CITATION.sub(" ", text)) <= _numbers(f"{source} {CALL_CENTRE}"):
        return False
    known = set(tokens(f"{source} {question} {ANSWER_WORDS}"))
    said = [t for t in tokens(_CITATION.sub(" ", text)) if not t.isdigit()]
    return not said or sum(1 for t in said if t in known) / len(said) >= SUPPORTED_SHARE


def answer(question: str, history: list[dict[str, str]] | None = None, *, index: Index | None = None) -> Answer:
    """The chatbot's one function: a grounded answer with its sources, or a refusal."""
    started = time.perf_counter()
    settings = get_settings()
    question = " ".join((question or "").split())
    if len(question) > MAX_QUESTION_CHARS:  # a pasted document: its head is the question (embedding costs per token)
        question = question[:MAX_QUESTION_CHARS].rsplit(" ", 1)[0]
    index = index or default_index()
    if not question:
        return Answer(REFUSAL, [], True, {"confidence": 0.0}, 0, True, question)
    refused_text = refusal_text(normalize_query(question), index)
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
        return done(refused_text, True, client is None)
    if client is not None:
        try:
            text = _generate(used, passages, client)
        except Exception as err:  # noqa: BLE001 - timeouts, HTTP errors, bad answers: extractive instead
            log.warning("LLM call failed (%s): extractive answer instead", type(err).__name__)
        else:
            if text is None:
                return done(refused_text, True, False)
            if not supported(text, passages, used):
                log.warning("LLM answer not supported by its passages (a number, a statement or the citations): "
                            "refused instead")
                scores["unsupported"] = 1.0
                return done(refused_text, True, False)
            cited = {int(n) for n in re.findall(r"\[(\d+)\]", text) if 0 < int(n) <= len(passages)}
            if cited:
                sources[:] = [s for s in sources if s["n"] in cited]
            return done(text, False, False)
    sources[:] = sources[:EXTRACTIVE_PASSAGES]
    return done(extractive(passages, used, index.boilerplate_sentences()), False, True)
