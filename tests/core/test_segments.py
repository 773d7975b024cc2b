"""Segment rules turned into SQL, on SQLite and PostgreSQL, including injection attempts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core import segments
from core.errors import UserError
from core.models import Campaign, Contact, Recipient, SegmentMember, Template


@pytest.fixture
def base(session):  # noqa: ANN001, ANN201
    people = {
        "awa": Contact(phone="+24177000001", first_name="Awa", last_name="Nguema", consent_status="opted_in",
                       attributes={"agence": "Oyem", "type_assure": "pensionné", "annee": 1950,
                                   "adhesion": "2020-03-01"},
                       created_at=datetime(2025, 1, 10, tzinfo=UTC)),
        "paul": Contact(phone="+24177000002", first_name="Paul", last_name="Ondo", consent_status="opted_in",
                        attributes={"agence": "Libreville", "type_assure": "assuré", "annee": "1985"},
                        created_at=datetime(2025, 6, 10, tzinfo=UTC)),
        "lea": Contact(phone="+33612345678", first_name="Léa", last_name="Obame", consent_status="unknown",
                       attributes={"agence": "Paris", "type_assure": "pensionné", "annee": "n/a"},
                       created_at=datetime(2026, 1, 10, tzinfo=UTC)),
        "eric": Contact(phone="+24166000004", first_name=None, last_name="Mba", consent_status="opted_out",
                        attributes={"agence": "Oyem"}, created_at=datetime(2026, 2, 1, tzinfo=UTC)),
    }
    session.add_all(people.values())
    session.flush()
    tpl = Template(name="t", category="UTILITY", status="APPROVED", body="x {{1}}")
    session.add(tpl)
    session.flush()
    c1, c2 = Campaign(name="C1", template_id=tpl.id), Campaign(name="C2", template_id=tpl.id)
    session.add_all([c1, c2])
    session.flush()
    now = datetime(2026, 3, 1, tzinfo=UTC)
    session.add_all([
        Recipient(campaign_id=c1.id, contact_id=people["awa"].id, phone="x", status="read", read_at=now,
                  replied_at=now),
        Recipient(campaign_id=c1.id, contact_id=people["paul"].id, phone="x", status="delivered"),
        Recipient(campaign_id=c1.id, contact_id=people["lea"].id, phone="x", status="failed", error_code="131026"),
        Recipient(campaign_id=c2.id, contact_id=people["paul"].id, phone="x", status="read", read_at=now),
    ])
    session.flush()
    people["c1"], people["c2"] = c1, c2
    return people


def names(session, rules) -> set[str]:  # noqa: ANN001
    return {c.last_name for c in session.scalars(select(Contact).where(segments.rules_condition(rules))).all()}


def one(field: str, operator: str, value=None) -> dict:  # noqa: ANN001
    return {"match": "all", "rules": [{"field": field, "operator": operator, "value": value}]}


@pytest.mark.parametrize("rule, expected", [
    (("first_name", "equals", "awa"), {"Nguema"}),
    (("first_name", "not_equals", "Awa"), {"Ondo", "Obame", "Mba"}),
    (("last_name", "contains", "ba"), {"Obame", "Mba"}),
    (("last_name", "starts_with", "O"), {"Ondo", "Obame"}),
    (("first_name", "is_empty", None), {"Mba"}),
    (("first_name", "is_not_empty", None), {"Nguema", "Ondo", "Obame"}),
    (("consent_status", "in", "opted_in, unknown"), {"Nguema", "Ondo", "Obame"}),
    (("consent_status", "in", ["opted_out"]), {"Mba"}),
    (("attribute:agence", "equals", "Oyem"), {"Nguema", "Mba"}),
    (("attribute:type_assure", "equals", "PENSIONNÉ"), {"Nguema", "Obame"}),
    (("attribute:agence", "not_equals", "Oyem"), {"Ondo", "Obame"}),
    (("attribute:type_assure", "is_empty", None), {"Mba"}),
    (("attribute:annee", "lt", "1960"), {"Nguema"}),  # "n/a" and missing never match a number
    (("attribute:annee", "gt", 1960), {"Ondo"}),
    (("attribute:adhesion", "before", "2021-01-01"), {"Nguema"}),
    (("created_at", "before", "2025-06-10"), {"Nguema"}),
    (("created_at", "after", "2025-12-31"), {"Obame", "Mba"}),
])
def test_field_operators(session, base, rule, expected) -> None:  # noqa: ANN001
    assert names(session, one(*rule)) == expected


def test_and_or_groups(session, base) -> None:  # noqa: ANN001
    rules = {"match": "any", "rules": [
        {"match": "all", "rules": [{"field": "attribute:agence", "operator": "equals", "value": "Oyem"},
                                   {"field": "consent_status", "operator": "equals", "value": "opted_in"}]},
        {"field": "attribute:agence", "operator": "equals", "value": "Paris"},
    ]}
    assert names(session, rules) == {"Nguema", "Obame"}
    assert names(session, {"match": "all", "rules": []}) == {"Nguema", "Ondo", "Obame", "Mba"}
    assert names(session, {"match": "any", "rules": []}) == set()


@pytest.mark.parametrize("behaviour, campaign, expected", [
    ("received", "c1", {"Nguema", "Ondo"}),
    ("read", "c1", {"Nguema"}),
    ("not_read", "c1", {"Ondo"}),
    ("replied", "c1", {"Nguema"}),
    ("failed", "c1", {"Obame"}),
    ("read", None, {"Nguema", "Ondo"}),
    ("received", "c2", {"Ondo"}),
])
def test_behaviours(session, base, behaviour, campaign, expected) -> None:  # noqa: ANN001
    rule = {"behaviour": behaviour, "campaign_id": base[campaign].id if campaign else None}
    assert names(session, {"match": "all", "rules": [rule]}) == expected


@pytest.mark.parametrize("value", [
    "'; DROP TABLE contacts; --",
    "' OR '1'='1",
    "Oyem' OR 1=1 --",
    "%",
    "_",
    "\\",
    "\") OR 1=1 --",
])
def test_injection_attempts_are_plain_values(session, base, value) -> None:  # noqa: ANN001
    for operator in ("equals", "contains", "starts_with", "in"):
        assert names(session, one("attribute:agence", operator, value)) == set()
        assert names(session, one("last_name", operator, value)) == set()
    assert session.scalar(select(func.count()).select_from(Contact)) == 4


@pytest.mark.parametrize("rules, message", [
    (one("password_hash", "equals", "x"), "Champ inconnu"),
    (one("attribute:agence') OR 1=1 --", "equals", "x"), "Nom d'attribut invalide"),
    (one("attribute:Agence", "equals", "x"), "Nom d'attribut invalide"),
    (one("first_name", "gt", "3"), "ne s'applique pas"),
    (one("first_name", "drop", "3"), "ne s'applique pas"),
    (one("attribute:annee", "lt", "beaucoup"), "Valeur numérique"),
    (one("created_at", "before", "demain"), "AAAA-MM-JJ"),
    (one("first_name", "equals", ""), "Indiquez une valeur"),
    (one("consent_status", "in", " , "), "au moins une valeur"),
    ({"match": "xor", "rules": []}, "toutes"),
    ({"match": "all", "rules": [{"behaviour": "hacked"}]}, "Comportement inconnu"),
    ({"match": "all", "rules": [{"behaviour": "read", "campaign_id": "1; DROP"}]}, "Campagne invalide"),
    ({"match": "all", "rules": [{"match": "all", "rules": [{"match": "all", "rules": [
        {"match": "all", "rules": []}]}]}]}, "niveaux"),
    ({"match": "all", "rules": [{"field": "first_name", "operator": "is_empty"}] * 51}, "Pas plus de 50"),
])
def test_bad_rules_are_refused_in_french(rules, message) -> None:  # noqa: ANN001
    with pytest.raises(UserError, match=message):
        segments.compile_rules(rules)


def test_segment_crud_count_and_preview(session, base) -> None:  # noqa: ANN001
    dyn = segments.create(session, name=" Pensionnés ", kind="dynamic",
                          rules=one("attribute:type_assure", "equals", "pensionné"))
    assert dyn.name == "Pensionnés" and segments.count(session, dyn) == 2
    with pytest.raises(UserError, match="existe déjà"):
        segments.create(session, name="Pensionnés", kind="static")
    with pytest.raises(UserError, match="au moins une règle"):
        segments.create(session, name="Vide", kind="dynamic", rules={"match": "all", "rules": []})
    static = segments.create(session, name="Liste", kind="static")
    assert segments.add_members(session, static, [base["awa"].id, base["paul"].id, base["awa"].id]) == 2
    assert segments.add_members(session, static, [base["awa"].id]) == 0
    session.flush()
    assert segments.count(session, static) == 2
    assert segments.remove_members(session, static, [base["paul"].id]) == 1
    with pytest.raises(UserError, match="statique"):
        segments.add_members(session, dyn, [base["awa"].id])
    preview = segments.preview_rules(session, one("attribute:agence", "equals", "oyem"), sample=1)
    assert preview.count == 2 and len(preview.sample) == 1
    assert "attribut Agence est égal à « Oyem »" in segments.describe(one("attribute:agence", "equals", "Oyem"))
    segments.update_rules(session, dyn, one("attribute:agence", "equals", "Paris"))
    assert segments.count(session, dyn) == 1
    segments.delete(session, static)
    session.flush()
    assert session.scalar(select(func.count()).select_from(SegmentMember)) == 0


def test_preview_counts_opted_out_members(session, base) -> None:  # noqa: ANN001
    preview = segments.preview_rules(session, one("attribute:agence", "equals", "Oyem"))
    assert (preview.count, preview.opted_out) == (2, 1)


def test_audience_never_contains_opted_out_or_erased_contacts(session, base) -> None:  # noqa: ANN001
    oyem = segments.create(session, name="Oyem", kind="dynamic", rules=one("attribute:agence", "equals", "Oyem"))
    pensioners = segments.create(session, name="P", kind="dynamic",
                                 rules=one("attribute:type_assure", "equals", "pensionné"))
    listed = segments.create(session, name="Liste", kind="static")
    segments.add_members(session, listed, [base["paul"].id, base["eric"].id])
    session.flush()

    def audience(include, exclude=()):  # noqa: ANN001, ANN202
        condition = segments.audience_condition(session, [s.id for s in include], [s.id for s in exclude])
        return {c.last_name for c in session.scalars(select(Contact).where(condition)).all()}

    assert audience([oyem]) == {"Nguema"}  # Mba is opted out
    assert audience([oyem, listed]) == {"Nguema", "Ondo"}
    assert audience([oyem, listed, pensioners], [pensioners]) == {"Ondo"}
    counted = segments.count_audience(session, [oyem.id, listed.id])
    assert (counted.selected, counted.opted_out, counted.reachable) == (3, 1, 2)
    base["paul"].erased_at = datetime(2026, 3, 2, tzinfo=UTC)
    session.flush()
    assert audience([listed]) == set()
    with pytest.raises(UserError, match="au moins un segment"):
        segments.audience_condition(session, [])
