"""What a person's words ask for: stop, resume, a human. Words are folded (no accents, lower case);
a message opts out when it is one of the words, alone or with a few polite ones."""

from __future__ import annotations

import logging
import re

from core.text import fold

log = logging.getLogger(__name__)


# Words a person sends to stop or resume messages, and to ask for a human (folded: no accents,
# lower case). A message opts out when it is one of these, alone or with a few polite words.
OPT_OUT_WORDS = frozenset({"stop", "arret", "arrete", "arreter", "arretez", "desabonner", "desabonne",
                           "desabonnement", "desinscrire", "desinscris", "desinscrivez", "desinscription",
                           "unsubscribe", "stopper"})
OPT_IN_WORDS = frozenset({"start", "oui", "reprendre", "reabonner", "inscrire", "reinscrire"})
HANDOFF_WORDS = frozenset({"agent", "conseiller", "conseillere", "humain", "humaine", "operateur", "operatrice",
                           "personne reelle", "quelqu un", "une personne"})
FILLER_WORDS = frozenset({"svp", "stp", "merci", "s", "il", "vous", "plait", "te", "moi", "je", "veux", "me", "de",
                          "les", "messages", "message", "sms", "please", "tout", "a", "au", "aux", "la", "le", "m",
                          "des", "ces", "envoyer", "cnss"})
OPT_OUT_CONFIRMATION = ("Vous êtes désinscrit(e) : la CNSS ne vous enverra plus de messages WhatsApp. "
                        "Répondez START pour vous réinscrire.")
OPT_IN_CONFIRMATION = ("C'est noté : vous recevrez de nouveau les messages de la CNSS. "
                       "Répondez STOP pour vous désinscrire.")
HANDOFF_NOTICE = "Un conseiller de la CNSS va vous répondre dès que possible."
BOT_NO_ANSWER_NOTICE = "Je transmets votre question à un conseiller de la CNSS, qui vous répondra dès que possible."
_WORD = re.compile(r"[a-z0-9]+")


def words(message_text: str) -> list[str]:
    return _WORD.findall(fold(message_text))


def keyword(message_text: str) -> str | None:
    """`opt_out`, `opt_in` or `handoff` when the message says so, else None. The opt words count
    only when the message is essentially that word ("STOP", "Arrêt svp", "désinscrire moi"),
    so that "je ne veux pas que ça s'arrête" is not an opt-out."""
    tokens = words(message_text)
    if not tokens:
        return None
    meaningful = [t for t in tokens if t not in FILLER_WORDS]
    if len(meaningful) == 1 and len(tokens) <= 6:
        if meaningful[0] in OPT_OUT_WORDS:
            return "opt_out"
        if meaningful[0] in OPT_IN_WORDS:
            return "opt_in"
    joined = " ".join(tokens)
    if len(tokens) <= 12 and (any(t in HANDOFF_WORDS for t in tokens)
                              or any(phrase in joined for phrase in HANDOFF_WORDS if " " in phrase)):
        return "handoff"
    return None


YES_WORDS = frozenset({"oui"})  # a re-subscription only in answer to a message that asked for it
# Our own offer to re-subscribe: "répondez OUI pour recevoir de nouveau…" (folded). An agent's other
# yes/no questions, or "ne répondez pas oui", are not one.
ASKS_FOR_YES = re.compile(r"\b(repondez|tapez|envoyez)\s+oui\b")
RESUBSCRIBE_WORDS = ("reinscri", "reabonn", "de nouveau nos messages", "de nouveau les messages")


def explicit_opt_in(message_text: str) -> bool:
    """START, RÉABONNER... (not a mere "oui")."""
    return any(t in OPT_IN_WORDS - YES_WORDS for t in words(message_text))
