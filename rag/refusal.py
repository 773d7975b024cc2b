"""When the chatbot must refuse: a decision from several signals rather than one threshold, and
whom a refused person should turn to.

Signals of one retrieval (`signals`, and the sentence-level one `Index.judge` adds): the closest
sentence of the best passages to the question, the dense similarity of the best passage and its
margin over the next document, how much of the question the best passages cover (plain and
weighted by rarity), the rarest word they lack, the keyword score, and whether the question names
something another body handles (health insurance, taxes, civil-service pensions...). A logistic
model over those of them listed in FEATURES turns them into the probability that the documents
answer the question (`confidence`); its weights are fitted on the development split only
(`python -m rag tune`) and kept in `refusal_model.json`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from core.text import fold

MODEL_PATH = Path(__file__).resolve().parent / "refusal_model.json"
# Chosen on the development split by leaving one corpus out (the demo base against the insured
# workers' one and back): these three carried over from one to the other; the keyword scores and
# coverages, signals of the first version, did not (they learn one corpus's vocabulary).
FEATURES = ("sentence_top", "dense_top", "elsewhere")

# Topics other bodies handle, as people name them (folded words and phrases). A question naming one
# leans towards a refusal that says where to go.
HEALTH = re.compile(r"\b(cnamgs|gef|medicaments?|pharmacie|pharmacien|hopital|hopitaux|hospitalis\w*|ordonnances?|"
                    r"mutuelles?|consultations?|clinique|assurance maladie|carte (d'assure )?cnamgs|"
                    r"lunettes|dentiste|analyses? (medicales|de sang)|vaccin\w*|arrets? (de )?maladie|"
                    r"rembourse\w* (de )?(mes |les )?soins)\b")
ELSEWHERE = re.compile(r"\b(impots?|irpp|fiscal\w*|taxes?|patente|fonctionnaires?|fonction publique|solde|tresor|"
                       r"smig|salaire minimum|smic|cameroun|senegal|cote d'ivoire|congo|france|francaise?s?|canada|"
                       r"cnps|securite sociale (francaise|en france)|"
                       r"(assurance|assureur|compagnie d'assurance) (vie|auto|voiture|habitation|taxi|moto)|"
                       r"compagnies? d'assurances?|pret|credit|micro ?credits?|"
                       r"visa (pour|de sejour|d'entree)|demande de visa|passeport|permis de conduire|election\w*|"
                       r"meteo|football|recette|capitale|bourses? (d'etudes?|scolaires?)|bac|baccalaureat|"
                       r"registre du commerce|rccm|anpi|sarl|creer (une|mon|ma) (entreprise|societe)|"
                       r"douanes?|dedouan\w*|logements? sociaux|logement social|cdd|cdi|contrat de travail|"
                       r"conges? payes?|paternite|indemnites? de licenciement|licenci\w* abusi\w*|preavis|"
                       r"demission\w*|heures? sup\w*|chomage|forfait|internet|loyer|cppf|pension alimentaire|dgi|"
                       r"anbg|seeg|"
                       r"titre de sejour|carte de sejour|casier judiciaire|nationalite|concours|offres? d'emploi|"
                       r"retraite complementaire|inspection du travail|inspecteur du travail|syndicat\w*|greve|"
                       r"code du travail|divorce)\b")
WORK_RISKS = re.compile(r"\b(accidents? (du|de|au) (travail|trajet)|maladies? professionnelles?|"
                        r"risques? professionnels?|atmp|at/mp|rentes?)\b")
REFERRALS = {
    "CNAMGS": ("La CNSS ne gère pas l'assurance maladie (soins, médicaments, hospitalisation, carte d'assuré "
               "maladie) : adressez-vous à la CNAMGS."),
}


def elsewhere(question: str) -> str | None:
    """`CNAMGS` when the question is about health insurance, `other` when it names another body's
    topic, else None."""
    folded = fold(question)
    if WORK_RISKS.search(folded):
        return None  # care after a work accident or for an occupational disease is the CNSS's
    if HEALTH.search(folded):
        return "CNAMGS"
    return "other" if ELSEWHERE.search(folded) else None


def signals(*, own_terms: set[str], unknown: int, dense: list[tuple[Any, float]], keyword_top: float,
            passages: list[set[str]], question: str, idf: Callable[[str], float]) -> dict[str, float]:
    terms = len(own_terms)
    dense_top = dense[0][1] if dense else 0.0
    other = next((score for document, score in dense[1:] if document != dense[0][0]), 0.0) if dense else 0.0
    top3: set[str] = set().union(*passages[:3]) if passages else set()
    weights = {t: idf(t) for t in own_terms}
    weight = sum(weights.values())
    best = passages[0] if passages else set()
    return {
        "terms": float(terms),
        "unknown": round(unknown / terms, 4) if terms else 1.0,
        "dense_top": round(dense_top, 4),
        "dense_margin": round(dense_top - other, 4),
        "lexical": round(1.0 - math.exp(-keyword_top / math.sqrt(terms)), 4) if terms else 0.0,
        "coverage": round(len(own_terms & passages[0]) / terms, 4) if terms and passages else 0.0,
        "coverage_top3": round(len(own_terms & top3) / terms, 4) if terms else 0.0,
        "elsewhere": 1.0 if elsewhere(question) else 0.0,
        # The question's words weighted by rarity: a rare word the passages lack (`paternité`,
        # `forfait`) says more than a common one they have (`congé`, `salarié`).
        "coverage_idf": round(sum(w for t, w in weights.items() if t in best) / weight, 4) if weight else 0.0,
        "coverage_idf_top3": round(sum(w for t, w in weights.items() if t in top3) / weight, 4) if weight else 0.0,
        "missing_idf": round(max((w for t, w in weights.items() if t not in top3), default=0.0), 4),
    }


@lru_cache(maxsize=1)
def _model() -> dict[str, Any]:
    return dict(json.loads(MODEL_PATH.read_text(encoding="utf-8")))


def confidence(values: dict[str, float]) -> float:
    """The probability (0..1) that the documents answer the question."""
    if not values.get("terms"):
        return 0.0
    model = _model()
    z = float(model["intercept"])
    for name in model["features"]:  # the fitted model's own list (FEATURES is what the next fit uses)
        mean, scale = model["mean"][name], model["scale"][name] or 1.0
        z += float(model["weights"][name]) * (float(values.get(name, 0.0)) - mean) / scale
    return round(1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))), 4)


def fit(rows: list[dict[str, Any]], *, path: Path = MODEL_PATH) -> dict[str, Any]:
    """Fit the weights on evaluation rows (each with the signals and `gold`, None when out of scope)
    and write them to `path`. Only ever given the development split."""
    # Here, not at the top: numpy and scikit-learn only when the weights are fitted again.
    import numpy as np
    from sklearn.linear_model import LogisticRegression  # same reason as numpy above

    x = np.array([[float(r[name]) for name in FEATURES] for r in rows])
    y = np.array([1 if r["gold"] else 0 for r in rows])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=0.1, class_weight="balanced", max_iter=1000).fit((x - mean) / scale, y)
    data = {"features": list(FEATURES), "intercept": round(float(model.intercept_[0]), 6),
            "weights": {n: round(float(w), 6) for n, w in zip(FEATURES, model.coef_[0], strict=True)},
            "mean": {n: round(float(v), 6) for n, v in zip(FEATURES, mean, strict=True)},
            "scale": {n: round(float(v), 6) for n, v in zip(FEATURES, scale, strict=True)},
            "trained_on": len(rows)}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    _model.cache_clear()
    return data
