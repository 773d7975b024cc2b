"""The Campaigns screens, driven as a user would, with the scheduler run by the test."""

from __future__ import annotations

import time

from sqlalchemy import select

from core import campaigns, db
from core.models import AuditLog, Campaign, Segment, Template
from tests.pages.conftest import app_as
from workers.scheduler import tick


def open_campaigns(user_id: int):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page("pages/campaigns.py").run()


def test_wizard_creates_and_launches_a_campaign(seeded, monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings

    monkeypatch.setenv("OUTBOX_DELIVER_AFTER_COMMIT", "true")  # the test send leaves right after its commit
    reload_settings()
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
        template_id = session.scalar(select(Template.id).where(Template.name == "nouveaux_taux_2026"))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Taux 2026 — employeurs")
    at.multiselect(key="wz_include").select(segment_id).run()
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Destinataires"].replace("\u202f", "")) > 0
    at.selectbox(key="wz_template").select(template_id).run()
    assert any("depuis le 1er janvier 2026" in i.value for i in at.info)  # preview for a real recipient
    at.checkbox(key="wz_quiet").uncheck()
    at.number_input(key="wz_rate").set_value(50).run()
    assert "FCFA" in {m.label: m.value for m in at.metric}["Coût estimé"]
    at.text_input(key="wz_test_to").input("077 28 01 50")
    at.button(key="wz_test").click().run()
    assert any("Le test est parti" in s.value for s in at.success)
    at.button(key="wz_launch").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("Campagne lancée" in s.value for s in at.success)
    # The form has emptied itself: a second click launches nothing.
    assert at.text_input(key="wz1_name").value == "" and not at.multiselect(key="wz1_include").value
    at.button(key="wz1_launch").click().run()
    assert any("nom de la campagne est obligatoire" in e.value for e in at.error)
    with db.session_scope() as session:
        assert len(session.scalars(select(Campaign).where(Campaign.name == "Taux 2026 — employeurs")).all()) == 1
        campaign = session.scalar(select(Campaign).where(Campaign.name == "Taux 2026 — employeurs"))
        assert campaign.status == "running" and campaign.total_recipients > 0
        assert campaign.created_by == seeded["manager"]
        campaign_id = campaign.id
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tick()
        with db.session_scope() as session:
            if campaigns.get(session, campaign_id).status == "completed":
                break
        time.sleep(0.2)
    with db.session_scope() as session:
        assert campaigns.get(session, campaign_id).status == "completed"
    at.run()
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    sent = {m.label: m.value for m in at.metric}["Envoyés"]
    assert int(sent.replace("\u202f", "")) > 0 and not at.exception


def test_wizard_refuses_a_bad_campaign_in_french(seeded) -> None:  # noqa: ANN001
    at = open_campaigns(seeded["manager"])
    at.button(key="wz_save").click().run()
    assert at.error and "segment" in at.error[0].value or "nom" in at.error[0].value.lower()


def test_a_click_that_comes_after_the_launch_is_told_and_creates_nothing(seeded) -> None:  # noqa: ANN001
    """A run interrupted by a second click can leave the form as it was: the same campaign launched
    again is then reported as the one already launched, and the form empties itself."""
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    for generation in ("wz_", "wz1_"):
        at.text_input(key=f"{generation}name").input("Rappel\u200b des cotisations")
        at.multiselect(key=f"{generation}include").select(segment_id).run()
        at.checkbox(key=f"{generation}quiet").uncheck().run()
        at.button(key=f"{generation}launch").click().run()
        assert not at.error and not at.exception, [e.value for e in at.error]
    assert [w.value for w in at.warning if "vient d'être créée" in w.value], [w.value for w in at.warning]
    assert not at.success and at.text_input(key="wz2_name").value == ""
    with db.session_scope() as session:
        made = session.scalars(select(Campaign).where(Campaign.name == "Rappel des cotisations")).all()
        assert [c.status for c in made] == ["running"]
    # The message stays through other reruns until a new campaign is begun.
    at.run()
    assert any("vient d'être créée" in w.value for w in at.warning)
    at.text_input(key="wz2_name").input("Autre campagne").run()
    assert not any("vient d'être créée" in w.value for w in at.warning) and not at.success


def test_a_draft_launched_elsewhere_is_not_launched_again(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Brouillon partagé")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.button(key="wz_save").click().run()
    assert any("Brouillon enregistré" in s.value for s in at.success)
    with db.session_scope() as session:
        draft_id = session.scalar(select(Campaign.id).where(Campaign.name == "Brouillon partagé"))
    at.selectbox(key="campaign_choice").select(draft_id).run()
    at.button(key=f"edit_{draft_id}").click().run()
    assert not at.success  # the last save's message is not the draft's
    with db.session_scope() as session:  # launched from another tab meanwhile
        campaigns.launch(session, campaigns.get(session, draft_id))
    at.button(key="wz2_launch").click().run()
    assert any("déjà quitté l'état de brouillon" in w.value for w in at.warning), [w.value for w in at.warning]
    assert not at.error and at.text_input(key="wz3_name").value == ""
    with db.session_scope() as session:
        assert len(session.scalars(select(Campaign).where(Campaign.name == "Brouillon partagé")).all()) == 1


def test_a_past_start_date_is_refused_next_to_the_field(seeded) -> None:  # noqa: ANN001
    from datetime import date

    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Rappel du 1er janvier")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.radio(key="wz_when").set_value("later").run()
    at.date_input(key="wz_date").set_value(date(2026, 1, 1)).run()
    assert [e.value for e in at.error] == [
        "La date de départ (01/01/2026 à 09:00) est passée : choisissez une date et une heure à venir, ou un départ "
        "« Dès le lancement »."]
    at.button(key="wz_launch").click().run()
    assert any("est passée" in e.value for e in at.error) and not at.success
    with db.session_scope() as session:
        assert session.scalar(select(Campaign).where(Campaign.name == "Rappel du 1er janvier")) is None


def test_quiet_hours_are_checked_next_to_their_fields_and_delay_the_start(seeded) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core.timeutil import local_tz, utcnow

    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_quiet_start").input("25:00").run()
    assert [e.value for e in at.error] == [
        "« 25:00 » n'est pas une heure : écrivez-la au format HH:MM, de 00:00 à 23:59 (par exemple 20:00)."]
    # Quiet hours around the present moment: launching now waits for their end, and the wizard says so.
    now = utcnow().astimezone(local_tz())
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    at.text_input(key="wz_quiet_start").input(start).run()
    at.text_input(key="wz_quiet_end").input(end).run()
    assert not at.error
    assert any(i.value.startswith("Départ réel : ") and f"({start}–{end})" in i.value for i in at.info)


def test_pause_needs_confirmation_and_is_audited(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Pensionnés"))
        template_id = session.scalar(select(Template.id).where(Template.name == "rappel_certificat_vie"))
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name="À mettre en pause", template_id=template_id, include_segment_ids=[segment_id], rate_limit=1,
            quiet_hours=None))
        campaigns.launch(session, campaign)
        campaign_id = campaign.id
    at = open_campaigns(seeded["manager"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    at.button(key=f"pause_{campaign_id}").click().run()
    assert any("Mettre la campagne en pause" in w.value for w in at.warning)
    with db.session_scope() as session:
        assert campaigns.get(session, campaign_id).status == "running"  # not before confirming
    at.button(key=f"yes_{campaign_id}").click().run()
    with db.session_scope() as session:
        assert campaigns.get(session, campaign_id).status == "paused"
        entry = session.scalar(select(AuditLog).where(AuditLog.action == "campaign_paused"))
        assert entry.actor_id == seeded["manager"]
    at.button(key=f"retarget_failed_{campaign_id}").click().run()
    assert any("Aucun destinataire « en échec »" in e.value for e in at.error)


def test_supervisor_follows_but_cannot_act(seeded) -> None:  # noqa: ANN001
    at = open_campaigns(seeded["supervisor"])
    assert len(at.tabs) == 1
    with db.session_scope() as session:
        completed = session.scalar(select(Campaign.id).where(Campaign.status == "completed").limit(1))
    at.selectbox(key="campaign_choice").select(completed).run()
    assert not at.exception
    assert not [b for b in at.button if b.label in ("Mettre en pause", "Annuler la campagne", "Lancer")]
    assert any("131026" in str(df.value) for df in at.dataframe)  # failures by WhatsApp code


def test_wizard_overrides_the_variable_mapping_for_one_campaign(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
        template = session.scalar(select(Template).where(Template.name == "nouveaux_taux_2026"))
        template_id, default_mapping = template.id, dict(template.variable_mapping)
    first_key = sorted(default_mapping)[0]
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Taux 2026 — formule de politesse")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.selectbox(key="wz_template").select(template_id).run()
    at.checkbox(key=f"wz_own_{template_id}").check().run()
    at.selectbox(key=f"wz_m{template_id}_{first_key}_src").select("text").run()
    at.text_input(key=f"wz_m{template_id}_{first_key}_text").input("Cher partenaire").run()
    assert any("Cher partenaire" in i.value for i in at.info)  # the preview uses the campaign's mapping
    at.button(key="wz_save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.name == "Taux 2026 — formule de politesse"))
        assert campaign.status == "draft"
        override = campaign.variable_mapping[first_key]
        assert (override["source"], override["text"]) == ("text", "Cher partenaire")
        assert session.get(Template, template_id).variable_mapping == default_mapping  # the template is untouched
        campaign_id = campaign.id
    assert at.text_input(key="wz1_name").value == ""  # saved: the form is blank again
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    at.button(key=f"edit_{campaign_id}").click().run()
    assert at.text_input(key="wz2_name").value == "Taux 2026 — formule de politesse"  # the draft, in new widgets
    assert at.multiselect(key="wz2_include").value == [segment_id]


def test_the_detail_shows_sends_being_verified_and_unverified_ones(seeded) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core import ledger
    from core.timeutil import utcnow

    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
        template_id = session.scalar(select(Template.id).where(Template.name == "nouveaux_taux_2026"))
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name="Vérifications", template_id=template_id, include_segment_ids=[segment_id], quiet_hours=None))
        campaigns.launch(session, campaign)
        campaign_id = campaign.id
    with db.session_scope() as session:  # a worker died holding three rows
        ledger.claim(session, campaign_id, owner="dead", limit=3, lease_seconds=1,
                       now=utcnow() - timedelta(minutes=20))
    for role in ("manager", "supervisor"):
        at = open_campaigns(seeded[role])
        at.selectbox(key="campaign_choice").select(campaign_id).run()
        assert any("3 envoi(s) en vérification" in i.value for i in at.info), role
    with db.session_scope() as session:  # Respond.io never answers: the bound ends them
        ledger.reconcile_expired(session, respondio_down())
        campaigns.pause(session, campaigns.get(session, campaign_id))
    at = open_campaigns(seeded["manager"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert any("3 envoi(s) non vérifiable(s)" in w.value for w in at.warning)
    at.selectbox(key=f"rcpt_filter_{campaign_id}").select("failed").run()
    assert "Envoi non vérifiable" in at.dataframe[-1].value["Motif / erreur"].tolist()
    at.button(key=f"retarget_unverified_{campaign_id}").click().run()
    assert any("relance non vérifiés" in s.value for s in at.success) and not at.exception


def respondio_down():  # noqa: ANN201
    """A Respond.io address where nothing listens: every lookup fails with a network error."""
    from core import respondio
    from tests.support.servers import free_port

    return respondio.RespondIO("jeton", base_url=f"http://127.0.0.1:{free_port()}/v2", channel_id=1, timeout=0.5,
                               max_retries=0)


def test_retargeting_says_what_it_takes_and_what_it_leaves_out(seeded) -> None:  # noqa: ANN001
    from datetime import timedelta

    from sqlalchemy import update

    from core.models import Recipient
    from core.timeutil import utcnow

    with db.session_scope() as session:
        campaign = session.scalars(select(Campaign).where(Campaign.status == "completed")
                                   .order_by(Campaign.id)).first()
        campaign_id = campaign.id
        # Some of its messages left an hour ago: their status may still arrive.
        recent = session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign_id,
                                                            Recipient.status == "delivered").limit(3)).all()
        session.execute(update(Recipient).where(Recipient.id.in_(recent)).values(
            status="sent", delivered_at=None, read_at=None, sent_at=utcnow() - timedelta(hours=1)))
        counts = campaigns.retarget_counts(session, campaign_id)
    assert counts["not_delivered"].recent == len(recent) > 0
    at = open_campaigns(seeded["manager"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert any("ne reprennent que les messages partis depuis plus de 24 h" in c.value for c in at.caption)
    assert any(c.value.startswith(f"{len(recent)} envois de moins de 24 h laissés de côté") for c in at.caption)
    button = at.button(key=f"retarget_not_delivered_{campaign_id}")
    assert button.label == f"non remis ({counts['not_delivered'].settled})"
    button.click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any(f"créé pour {counts['not_delivered'].settled} destinataires" in s.value for s in at.success)
    # The supervisor sees the campaign but no retargeting buttons.
    at = open_campaigns(seeded["supervisor"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert not [b for b in at.button if b.key and b.key.startswith("retarget_")]


def test_the_review_before_launch(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
        template_id = session.scalar(select(Template.id).where(Template.name == "nouveaux_taux_2026"))
    at = open_campaigns(seeded["manager"])
    assert any("Choisissez au moins un segment à l'étape 1" in i.value for i in at.info)
    at.text_input(key="wz_name").input("Revue <b>avant</b> lancement")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.selectbox(key="wz_template").select(template_id).run()
    metrics = {m.label: m.value for m in at.metric}
    to_send = int(metrics["À envoyer"].replace("\u202f", ""))
    assert to_send > 0 and "FCFA" in metrics["Coût estimé"] and metrics["Départ réel"]
    table = at.dataframe[-1].value
    assert table.iloc[0]["Segment"] == "Inclus : Employeurs"
    assert any(m.value.startswith(":green[✔]") and "Départ dès le lancement" in m.value for m in at.markdown)
    assert any("Aucun envoi de test de ce modèle depuis 24 h" in m.value for m in at.markdown)
    # After a test send, the guard holds.
    at.text_input(key="wz_test_to").input("077 28 01 50")
    at.button(key="wz_test").click().run()
    assert any("Envoi de test de ce modèle le " in m.value for m in at.markdown)
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_approval_from_submission_to_launch_for_each_role(seeded, monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings

    monkeypatch.setenv("CAMPAIGN_APPROVAL", "always")
    reload_settings()
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    # The manager prepares it: the button says what will happen.
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("À valider")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.checkbox(key="wz_quiet").uncheck().run()
    assert at.button(key="wz_launch").label == "Soumettre à validation"
    assert any("Toute campagne est validée" in i.value for i in at.info)
    at.button(key="wz_launch").click().run()
    assert any("Campagne soumise à validation" in s.value for s in at.success), [e.value for e in at.error]
    with db.session_scope() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.name == "À valider"))
        campaign_id = campaign.id
        assert campaign.status == "draft" and campaign.approval_status == "submitted"
    # Its author sees it waiting, and has neither a launch button nor the approval panel.
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert any("En attente de validation depuis le" in i.value for i in at.info)
    assert not [b for b in at.button if b.key in (f"launch_{campaign_id}", f"approve_{campaign_id}")]
    # An agent cannot open the screen at all (tests/pages/test_access.py); a supervisor approves after the review.
    at = open_campaigns(seeded["supervisor"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert any(m.label == "À envoyer" for m in at.metric)  # the same review as the author's
    at.button(key=f"reject_{campaign_id}").click().run()
    assert any("Dites pourquoi" in e.value for e in at.error)
    at.text_area(key=f"appr_note_{campaign_id}").input("Vérifié avec la direction.")
    at.button(key=f"approve_{campaign_id}").click().run()
    assert not at.exception and any("Campagne approuvée : elle part maintenant." in s.value for s in at.success)
    with db.session_scope() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.status == "running" and campaign.approval_comment == "Vérifié avec la direction."
        assert campaign.decided_by == seeded["supervisor"]
    at.run()
    assert any("Approuvée le" in c.value and "Vérifié avec la direction." in c.value for c in at.caption)


def submitted(seeded, monkeypatch, name: str) -> int:  # noqa: ANN001
    """With approval always required, a campaign the manager has prepared and submitted."""
    from core import approval, users
    from core.config import reload_settings

    monkeypatch.setenv("CAMPAIGN_APPROVAL", "always")
    reload_settings()
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
        template_id = session.scalar(select(Template.id).where(Template.name == "nouveaux_taux_2026"))
        author = users.get(session, seeded["manager"])
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name=name, template_id=template_id, include_segment_ids=[segment_id], quiet_hours=None), actor=author)
        approval.submit(session, campaign, actor=author)
        return campaign.id


def test_a_rejected_campaign_tells_its_author_why(seeded, monkeypatch) -> None:  # noqa: ANN001
    campaign_id = submitted(seeded, monkeypatch, "<b>Refusée</b>")
    at = open_campaigns(seeded["admin"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    at.text_area(key=f"appr_note_{campaign_id}").input("Le taux **16 %** est faux")
    at.button(key=f"reject_{campaign_id}").click().run()
    assert any("Campagne refusée" in s.value for s in at.success)
    at = open_campaigns(seeded["manager"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    [refused] = [w.value for w in at.warning if w.value.startswith("Refusée le")]
    assert "Le taux \\*\\*16 %\\*\\* est faux" in refused  # shown as typed, not rendered
    # Not again as it is: « Modifier le brouillon », then submit from the wizard.
    assert not [b for b in at.button if b.key == f"launch_{campaign_id}"]
    at.button(key=f"edit_{campaign_id}").click().run()
    assert at.button(key="wz1_launch").label == "Soumettre à validation"


def test_a_spending_cap_set_in_the_wizard_and_raised_on_the_campaign(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Avec plafond")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.checkbox(key="wz_quiet").uncheck().run()
    at.number_input(key="wz_budget").set_value(24).run()  # two utility messages
    assert any("Plafond de dépense de 24\u00a0FCFA : il couvre 2 messages sur" in m.value for m in at.markdown)
    at.button(key="wz_launch").click().run()
    assert any("Campagne lancée" in s.value for s in at.success), [e.value for e in at.error]
    with db.session_scope() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.name == "Avec plafond"))
        assert campaign.budget_fcfa == 24
        campaign_id = campaign.id
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    at.number_input(key=f"budget_{campaign_id}").set_value(120000).run()
    at.button(key=f"budget_save_{campaign_id}").click().run()
    assert not at.exception and any("Plafond enregistré." in s.value for s in at.success)
    with db.session_scope() as session:
        assert session.get(Campaign, campaign_id).budget_fcfa == 120000


def test_people_contacted_recently_are_shown_and_can_be_left_out(seeded) -> None:  # noqa: ANN001
    from datetime import timedelta

    from sqlalchemy import update

    from core.models import Contact, Recipient, SegmentMember
    from core.timeutil import utcnow

    with db.session_scope() as session:  # the demo's last completed campaign went out yesterday
        campaign = session.scalars(select(Campaign).where(Campaign.status == "completed")
                                   .order_by(Campaign.id.desc())).first()
        segment_id = campaign.include_segment_ids[0]
        session.execute(update(Recipient).where(Recipient.campaign_id == campaign.id, Recipient.sent_at.is_not(None))
                        .values(sent_at=utcnow() - timedelta(days=1)))
        since = utcnow() - timedelta(days=7)
        reached = len(set(session.scalars(select(Recipient.contact_id).where(  # any campaign of the last 7 days
            Recipient.sent_at >= since, Recipient.status.in_(["sent", "delivered", "read"]),
            Recipient.contact_id.in_(select(SegmentMember.contact_id).where(SegmentMember.segment_id == segment_id)),
            Recipient.contact_id.in_(select(Contact.id).where(Contact.consent_status != "opted_out"))))))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Encore eux")
    at.multiselect(key="wz_include").select(segment_id).run()
    [warning] = [w.value for w in at.warning if "déjà reçu un message de campagne ces 7 derniers jours" in w.value]
    assert warning.startswith(f"{reached} personnes de cette audience")
    assert any(df.value.columns.tolist() == ["Nom", "Téléphone", "Dernière campagne", "Envoyé le"]
               for df in at.dataframe)
    at.checkbox(key="wz_exclude_recent").check().run()
    assert any(f"{reached} personnes de cette audience" in i.value and "sont écartées" in i.value for i in at.info)
    at.checkbox(key="wz_quiet").uncheck().run()
    at.button(key="wz_save").click().run()
    with db.session_scope() as session:
        assert session.scalar(select(Campaign).where(Campaign.name == "Encore eux")).exclude_recent_days == 7


def test_the_test_group_before_approval(seeded, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("TEST_GROUP_SEGMENT", "Pensionnés résidant à l'étranger")  # a small demo segment
    campaign_id = submitted(seeded, monkeypatch, "Avec groupe de test")
    at = open_campaigns(seeded["supervisor"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert any("doit recevoir le message avant toute validation" in w.value for w in at.warning)
    at.button(key=f"approve_{campaign_id}").click().run()
    assert any("doit d'abord recevoir le message" in e.value for e in at.error)
    at.button(key=f"test_group_{campaign_id}").click().run()
    assert any("Message envoyé aux" in s.value for s in at.success), [e.value for e in at.error]
    assert any("a reçu le message le" in s.value for s in at.success)
    at.button(key=f"approve_{campaign_id}").click().run()
    assert any("Campagne approuvée" in s.value for s in at.success), [e.value for e in at.error]


def test_an_end_date_from_the_wizard(seeded) -> None:  # noqa: ANN001
    from datetime import timedelta

    from core.timeutil import local_tz, utcnow

    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    at.text_input(key="wz_name").input("Avec date de fin")
    at.multiselect(key="wz_include").select(segment_id).run()
    at.checkbox(key="wz_quiet").uncheck().run()
    at.checkbox(key="wz_has_end").check().run()
    tomorrow = (utcnow().astimezone(local_tz()) + timedelta(days=1)).date()
    at.date_input(key="wz_end_day").set_value(tomorrow).run()
    assert any(f"Date de fin le {tomorrow:%d/%m/%Y} 23:59 : l'envoi finit avant." in m.value for m in at.markdown)
    at.button(key="wz_save").click().run()
    assert not at.error, [e.value for e in at.error]
    with db.session_scope() as session:
        ends_at = session.scalar(select(Campaign.ends_at).where(Campaign.name == "Avec date de fin"))
        assert f"{ends_at.astimezone(local_tz()):%Y-%m-%d %H:%M}" == f"{tomorrow:%Y-%m-%d} 23:59"


def test_an_approver_can_still_refuse_a_campaign_whose_segment_is_gone(seeded, monkeypatch) -> None:  # noqa: ANN001
    from core.models import Segment as SegmentRow

    campaign_id = submitted(seeded, monkeypatch, "Segment disparu")
    with db.session_scope() as session:  # gone by another way than the screen (which refuses it now)
        session.delete(session.scalar(select(SegmentRow).where(SegmentRow.name == "Employeurs")))
    at = open_campaigns(seeded["supervisor"])
    at.selectbox(key="campaign_choice").select(campaign_id).run()
    assert not at.exception
    assert any("La vérification est impossible" in e.value for e in at.error)
    at.text_area(key=f"appr_note_{campaign_id}").input("Le segment n'existe plus.")
    at.button(key=f"reject_{campaign_id}").click().run()
    assert any("Campagne refusée" in s.value for s in at.success)


def test_bad_quiet_hours_are_said_once(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Employeurs"))
    at = open_campaigns(seeded["manager"])
    at.multiselect(key="wz_include").select(segment_id).run()
    at.text_input(key="wz_quiet_start").input("1\u0669:00").run()
    assert not at.exception
    assert len(at.error) == 1 and "n'est pas une heure" in at.error[0].value
    assert any("Corrigez les heures calmes à l'étape 3" in i.value for i in at.info)
