"""The analytics screen for supervisors and managers on the demo data; agents cannot open it."""

from __future__ import annotations

from tests.pages.conftest import ROOT, app_as


def open_analytics(user_id: int):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page("pages/analytics.py").run()


def test_supervisor_sees_figures_charts_and_exports(seeded) -> None:  # noqa: ANN001
    at = open_analytics(seeded["supervisor"])
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Envoyés"].replace("\u202f", "")) > 0
    assert "FCFA" in metrics["Dépense estimée"]
    assert any("Chiffres calculés le" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) >= 3
    assert at.get("download_button")  # every table exportable


def test_manager_filters_by_campaign_and_refreshes(seeded) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from core import db
    from core.models import Campaign

    with db.session_scope() as session:
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.status == "completed").limit(1))
    at = open_analytics(seeded["manager"])
    at.multiselect(key="an_campaigns").select(campaign_id).run()
    at.button(key="an_refresh").click().run()
    assert not at.exception


def test_an_empty_period_explains_what_to_do(seeded) -> None:  # noqa: ANN001
    from datetime import date

    at = open_analytics(seeded["supervisor"])
    at.date_input(key="an_period").set_value((date(2020, 1, 1), date(2020, 1, 31))).run()
    assert any("Aucun message envoyé sur cette période" in i.value for i in at.info)


def test_agents_cannot_open_analytics(seeded) -> None:  # noqa: ANN001
    at = app_as(seeded["agent"], script=str(ROOT / "pages" / "analytics.py")).run()
    assert at.error and "Accès refusé" in at.error[0].value


def test_breakdowns_by_segment_template_and_contact_attribute(seeded) -> None:  # noqa: ANN001
    from sqlalchemy import select

    from core import db
    from core.models import Segment

    at = open_analytics(seeded["supervisor"])
    assert at.selectbox(key="an_breakdown").options == ["Modèle", "Catégorie de modèle", "Segment", "Agence",
                                                        "Type d'assuré"]
    for choice in ("segment", "attribute:agence", "attribute:type_assure", "category"):
        at.selectbox(key="an_breakdown").set_value(choice).run()
        assert not at.exception, at.exception
        assert "breakdown_chart" in [c.key for c in at.get("plotly_chart")] or any(
            "Aucun envoi" in i.value for i in at.info)
    with db.session_scope() as session:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == "Agence de Libreville"))
    at.selectbox(key="an_segment").set_value(segment_id).run()
    assert not at.exception
    sent = int({m.label: m.value for m in at.metric}["Envoyés"].replace("\u202f", ""))
    assert sent > 0
