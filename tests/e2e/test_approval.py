"""Approval in a real browser (CAMPAIGN_APPROVAL=100 on the test app): a communication officer
submits a campaign of more than 100 people with an impatient double click, cannot start it while it
waits, and a supervisor approves it after reading the same review; it then leaves."""

from __future__ import annotations

import re

from sqlalchemy import create_engine, text

from tests.e2e.test_journey import MANAGER, ROOT, Journey, browser  # noqa: F401

SHOTS = ROOT / "tests" / "artifacts" / "approval"
SUPERVISOR = "superviseur@cnss.ga"
NAME = "Annonce à valider"


def test_a_campaign_waiting_for_approval_cannot_be_started_by_its_author(running_app, browser) -> None:  # noqa: ANN001, F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    me = Journey(page, running_app.base)
    me.sign_in(MANAGER, running_app.passwords[MANAGER])
    me.open("Campagnes")
    me.tab("Nouvelle campagne")
    me.text_input("Nom de la campagne", NAME)
    for segment in ("Pensionnés", "Employeurs", "Assurés salariés"):
        me.choose("Segments inclus", segment)
    page.get_by_text("Respecter des heures calmes").click()
    me.idle()
    submit = page.get_by_role("button", name="Soumettre à validation")
    assert page.get_by_role("button", name="Lancer la campagne").count() == 0
    submit.dblclick()
    me.visible("Campagne soumise à validation")
    me.idle()
    engine = create_engine(running_app.database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, status, approval_status FROM campaigns WHERE name = :n"),
                                  {"n": NAME}).all()
    assert [(r.status, r.approval_status) for r in rows] == [("draft", "submitted")]
    campaign_id = rows[0].id
    # The author opens it: it waits, and nothing on the screen can start it.
    me.tab("Campagnes")
    me.choose("Ouvrir la campagne", NAME)
    me.visible("En attente de validation depuis le")
    for label in ("Lancer", "Soumettre à validation", "Approuver et lancer"):
        assert page.get_by_role("button", name=label, exact=True).count() == 0, label
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "1-en-attente.png"), full_page=True)
    # A supervisor reads the review and approves.
    other = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    boss = Journey(other, running_app.base)
    boss.sign_in(SUPERVISOR, running_app.passwords[SUPERVISOR])
    boss.open("Campagnes")
    boss.choose("Ouvrir la campagne", NAME)
    boss.visible("Le message tel que le liront les premiers destinataires")
    other.get_by_label("Commentaire (obligatoire pour refuser ; l'auteur le lira)").fill("Relu.")
    boss.idle()
    other.screenshot(path=str(SHOTS / "2-validation-superviseur.png"), full_page=True)
    other.get_by_role("button", name="Approuver et lancer").click()
    boss.visible("Campagne approuvée")
    with engine.connect() as connection:
        status = connection.execute(text("SELECT status FROM campaigns WHERE id = :i"), {"i": campaign_id}).scalar()
    engine.dispose()
    assert status in ("running", "completed")
    # The author sees who approved it (a new visit: the sign-in is asked again).
    me.sign_in(MANAGER, running_app.passwords[MANAGER])
    me.open("Campagnes")
    me.choose("Ouvrir la campagne", NAME)
    page.get_by_text(re.compile(r"Approuvée le .* : « Relu. »")).first.wait_for()
