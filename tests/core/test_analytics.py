"""Every aggregation on a small hand-made ledger whose answers are known, on SQLite and PostgreSQL;
time buckets in Africa/Libreville; the summary tables kept exact by the triggers and the refresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from core import analytics, models, segments, stats, templates
from core.models import Campaign, ChatbotInteraction, ConsentEvent, Contact, Recipient, RecipientStats

T0 = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)  # 09:00 in Libreville, a Tuesday


@pytest.fixture
def ledger(session):  # noqa: ANN001, ANN201
    template = templates.save(session, {"name": "rappel", "language": "fr", "category": "UTILITY",
                                        "status": "APPROVED", "body": "Bonjour, rappel CNSS."})
    marketing = templates.save(session, {"name": "maintien_droits", "language": "fr", "category": "MARKETING",
                                         "status": "APPROVED", "body": "Bonjour, pensez au maintien des droits."})
    retirees = segments.create(session, name="Retraités", kind="static")
    employers = segments.create(session, name="Employeurs", kind="static")
    session.flush()
    first = Campaign(name="Pensions", template_id=template.id, status="completed", include_segment_ids=[retirees.id])
    second = Campaign(name="Employeurs", template_id=marketing.id, status="completed",
                      include_segment_ids=[employers.id, retirees.id])
    session.add_all([first, second])
    contacts = [Contact(phone=f"+2417700{i:04d}", consent_status="opted_in" if i < 8 else "opted_out",
                        attributes={"agence": "Oyem" if i % 2 else "Libreville"} if i < 7 else {})
                for i in range(10)]
    session.add_all(contacts)
    session.flush()
    # Campaign 1: 6 messages. Delivery delays 10, 20, 30, 40 s; reads at 60 and 120 s; one failure.
    rows = [
        (first, 0, "read", 10, 60, None, True), (first, 1, "read", 20, 120, None, False),
        (first, 2, "delivered", 30, None, None, False), (first, 3, "delivered", 40, None, None, False),
        (first, 4, "sent", None, None, None, False), (first, 5, "failed", None, None, "131026", False),
        # Campaign 2: 2 messages the next day at 23:30 UTC, i.e. 00:30 the day after in Libreville.
        (second, 6, "delivered", 5, None, None, False), (second, 7, "failed", None, None, "131049", False),
    ]
    for n, (campaign, c, status, delivered, read, code, replied) in enumerate(rows):
        sent = T0 + timedelta(minutes=n) if campaign is first else T0 + timedelta(hours=15, minutes=30 + n)
        session.add(Recipient(campaign_id=campaign.id, contact_id=contacts[c].id, phone=contacts[c].phone,
                              parameters={}, status=status, sent_at=sent,
                              delivered_at=sent + timedelta(seconds=delivered) if delivered else None,
                              read_at=sent + timedelta(seconds=read) if read else None,
                              failed_at=sent if status == "failed" else None, error_code=code,
                              replied_at=sent + timedelta(minutes=5) if replied else None))
    session.add_all([ConsentEvent(contact_id=contacts[8].id, status="opted_out", source="whatsapp", reason="STOP",
                                  at=T0 + timedelta(hours=2)),
                     # Contact 4 got campaign 1 at T0 + 4 min and opts out an hour later: caused by it.
                     ConsentEvent(contact_id=contacts[4].id, status="opted_out", source="whatsapp", reason="STOP",
                                  at=T0 + timedelta(hours=1)),
                     ChatbotInteraction(channel="whatsapp", question="Q1", answer="A", created_at=T0),
                     ChatbotInteraction(channel="whatsapp", question="Q2", refused=True, handed_over=True,
                                        created_at=T0, feedback=-1, feedback_comment="faux")])
    session.flush()
    assert stats.rebuild(session) == 2  # rows inserted directly: summaries built from scratch
    return first.id, second.id


PERIOD = analytics.Filters(date(2026, 11, 10), date(2026, 11, 11))


def test_kpis(session, ledger) -> None:  # noqa: ANN001
    k = analytics.kpis(session, PERIOD)
    assert (k.contacts, round(k.opted_in_share, 2), k.opt_outs, k.campaigns) == (10, 0.8, 2, 2)
    assert (k.sent, k.delivered, k.read, k.failed, k.replied) == (8, 5, 2, 2, 1)
    assert k.spend_fcfa == 4 * 12.0 + 1 * 45.0  # delivered: 4 utility, 1 marketing, at the default prices
    assert (k.bot_answered, k.bot_handed_over) == (1, 1)
    assert k.rates["delivered"] == 5 / 8
    earlier = analytics.kpis(session, PERIOD.previous())
    assert earlier.sent == 0 and PERIOD.previous().end == date(2026, 11, 9)


def test_funnel_failures_and_filters(session, ledger) -> None:  # noqa: ANN001
    first, second = ledger
    funnel = {r["campaign"]: r for r in analytics.funnel_by_campaign(session, PERIOD)}
    assert {k: funnel["Pensions"][k] for k in ("sent", "delivered", "read", "replied", "failed", "opt_outs")} == \
        {"sent": 6, "delivered": 4, "read": 2, "replied": 1, "failed": 1, "opt_outs": 1}
    assert funnel["Employeurs"]["opt_outs"] == 0 and funnel["Pensions"]["read_rate"] == 2 / 6
    failures = analytics.failures_by_code(session, PERIOD)
    assert {f["code"]: f["count"] for f in failures} == {"131026": 1, "131049": 1}
    assert failures[0]["meaning"]
    only_second = analytics.Filters(PERIOD.start, PERIOD.end, campaign_ids=(second,))
    assert analytics.kpis(session, only_second).sent == 2


def test_delays_median_and_p90(session, ledger) -> None:  # noqa: ANN001
    d = analytics.delays(session, analytics.Filters(PERIOD.start, PERIOD.end, campaign_ids=(ledger[0],)))
    assert d["delivery"]["median"] == pytest.approx(30.0, abs=0.5)  # 10, 20, 30, 40: the upper middle
    assert d["delivery"]["p90"] == pytest.approx(40.0, abs=0.5)
    assert d["read"]["n"] == 2 and d["read"]["p90"] == pytest.approx(120.0, abs=0.5)


def test_time_buckets_are_libreville_hours_and_days(session, ledger) -> None:  # noqa: ANN001
    hourly = analytics.over_time(session, PERIOD)
    buckets = {(b["bucket"].replace(tzinfo=None)).isoformat(): b["sent"] for b in hourly}
    assert {k: v for k, v in buckets.items() if v} == {"2026-11-10T09:00:00": 6, "2026-11-11T00:00:00": 2}
    assert len(buckets) == 48  # every hour of the two days, the empty ones as zero (no line across them)
    by_hour = {(r["weekday"], r["hour"]): r for r in analytics.read_rate_by_hour(session, PERIOD)}
    assert by_hour[(1, 9)]["sent"] == 6 and by_hour[(1, 9)]["read_rate"] == pytest.approx(2 / 6)
    assert by_hour[(2, 0)]["sent"] == 2  # Wednesday 00:30 in Libreville
    daily = analytics.over_time(session, analytics.Filters(date(2026, 11, 1), date(2026, 11, 30)))
    assert [(b["bucket"].date().isoformat(), b["sent"]) for b in daily if b["sent"]] == [("2026-11-10", 6),
                                                                                        ("2026-11-11", 2)]
    assert len(daily) == 30 and daily[0]["bucket"].date() == date(2026, 11, 1) and daily[0]["sent"] == 0


def test_chatbot_figures(session, ledger) -> None:  # noqa: ANN001
    bot = analytics.chatbot(session, PERIOD)
    assert bot["per_day"] == [{"day": "2026-11-10", "questions": 2, "refused": 1, "handed_over": 1, "answered": 1},
                              {"day": "2026-11-11", "questions": 0, "refused": 0, "handed_over": 0, "answered": 0}]
    assert [t["comment"] for t in bot["thumbs_down"]] == ["faux"]


def test_breakdowns_by_template_category_segment_and_attribute(session, ledger) -> None:  # noqa: ANN001
    def table(by: str) -> dict[str, tuple[int, int, int]]:
        return {r["label"]: (r["sent"], r["delivered"], r["read"]) for r in analytics.breakdown(session, PERIOD, by)}

    assert table("template") == {"rappel": (6, 4, 2), "maintien_droits": (2, 1, 0)}
    assert table("category") == {"Service (utilitaire)": (6, 4, 2), "Marketing": (2, 1, 0)}
    # Campaign 2 went to both segments: it counts for each.
    assert table("segment") == {"Retraités": (8, 5, 2), "Employeurs": (2, 1, 0)}
    # Contacts 0..5 (campaign 1) and 6, 7 (campaign 2); 7 has no agency; odd ones are in Oyem.
    assert table("attribute:agence") == {"Libreville": (4, 3, 1), "Oyem": (3, 2, 1), "(non renseigné)": (1, 0, 0)}
    retirees = session.scalar(select(Campaign.include_segment_ids).where(Campaign.name == "Pensions"))[0]
    only = analytics.Filters(PERIOD.start, PERIOD.end, segment_id=retirees)
    assert analytics.kpis(session, only).sent == 8
    employers = analytics.Filters(PERIOD.start, PERIOD.end, segment_id=retirees + 1)
    assert analytics.kpis(session, employers).sent == 2


def test_summaries_follow_every_change_of_the_ledger(session, ledger) -> None:  # noqa: ANN001
    first, _ = ledger
    assert stats.pending(session) == 0
    # A status arrives (any update path): the campaign is marked by the trigger, not by the caller.
    session.execute(update(Recipient).where(Recipient.campaign_id == first, Recipient.status == "sent")
                    .values(status="delivered", delivered_at=T0 + timedelta(minutes=4, seconds=125)))
    assert stats.pending(session) == 1
    assert analytics.kpis(session, PERIOD).delivered == 5  # not refreshed yet
    assert stats.refresh(session) == [first] and stats.pending(session) == 0
    assert analytics.kpis(session, PERIOD).delivered == 6
    d = analytics.delays(session, analytics.Filters(PERIOD.start, PERIOD.end, campaign_ids=(first,)))
    assert d["delivery"]["n"] == 5 and d["delivery"]["p90"] == 120.0  # 125 s: the lower edge of its 10-s bucket
    # The summaries equal a rebuild from scratch.
    def snapshot() -> list:
        return session.execute(select(RecipientStats.campaign_id, RecipientStats.hour, RecipientStats.status,
                                      RecipientStats.error_code, RecipientStats.n, RecipientStats.replied)
                               .order_by(RecipientStats.campaign_id, RecipientStats.hour, RecipientStats.status,
                                         RecipientStats.error_code)).all()
    incremental = snapshot()
    stats.rebuild(session)
    assert snapshot() == incremental
    total = session.scalar(select(func.sum(RecipientStats.n)))
    assert total == session.scalar(select(func.count()).select_from(Recipient))


def test_delay_buckets() -> None:
    assert [stats.bucket_of(s) for s in (0, 59.9, 119.99, 125, 1199, 1250, 7300, 90500)] == \
        [0, 59, 119, 120, 1190, 1200, 7200, 90000]


def test_compute_gives_every_figure_and_its_time(session, ledger) -> None:  # noqa: ANN001
    timings: dict[str, float] = {}
    data = analytics.compute(session, PERIOD, timings=timings)
    assert data["kpis"]["sent"] == 8 and data["before"]["sent"] == 0
    assert set(data["breakdowns"]) == {"template", "category", "segment"}
    assert set(data["attributes"]) == {"agence", "type_assure"}
    assert {"refresh", "kpis", "funnel_by_campaign", "delays", "breakdown_segment"} <= set(timings)


def test_chatbot_topics_are_the_documents_answers_rely_on(session) -> None:  # noqa: ANN001
    sources = [{"title": "Prestations familiales et de maternité", "n": 1}, {"title": "Pensions", "n": 2}]
    assert models.chatbot_topic(sources, refused=False) == "Prestations familiales et de maternité"
    assert models.chatbot_topic([], refused=True) == models.OUT_OF_SCOPE_TOPIC
    assert models.chatbot_topic([], refused=False) is None
    for n, (title, refused) in enumerate([("Pensions", False), ("Pensions", False), ("", True)]):
        session.add(ChatbotInteraction(channel="whatsapp", question=f"Q{n}", refused=refused, created_at=T0,
                                       topic=models.chatbot_topic([{"title": title}], refused)))
    session.flush()
    assert analytics.chatbot(session, PERIOD)["topics"] == [{"topic": "Pensions", "count": 2},
                                                            {"topic": models.OUT_OF_SCOPE_TOPIC, "count": 1}]


def opt_out_after_message(session, campaign_id: int, days: int) -> None:  # noqa: ANN001
    """A person who got a delivered message of the campaign opts out `days` after it."""
    contact_id, sent_at = session.execute(select(Recipient.contact_id, Recipient.sent_at).where(
        Recipient.campaign_id == campaign_id, Recipient.status == "delivered").limit(1)).one()
    session.add(ConsentEvent(contact_id=contact_id, status="opted_out", source="agent", reason="appel",
                             at=sent_at + timedelta(days=days)))
    session.flush()


def opt_outs(session) -> dict[str, int]:  # noqa: ANN001
    return {r["campaign"]: r["opt_outs"] for r in analytics.funnel_by_campaign(session, PERIOD)}


def test_an_opt_out_marks_the_campaigns_that_may_have_caused_it(session, ledger) -> None:  # noqa: ANN001
    first, second = ledger
    assert stats.pending(session) == 0
    opt_out_after_message(session, second, days=1)
    assert stats.pending(session) == 1  # the trigger on consent events
    assert stats.refresh(session) == [second]
    assert opt_outs(session) == {"Pensions": 1, "Employeurs": 1}
    # Outside the attribution window (3 days by default): not counted, though the campaign is refreshed.
    opt_out_after_message(session, first, days=5)
    assert stats.refresh(session) == [first]
    assert opt_outs(session) == {"Pensions": 1, "Employeurs": 1}


def test_big_campaigns_are_refreshed_no_more_often_than_their_cost_allows(session, ledger) -> None:  # noqa: ANN001
    first, second = ledger
    stats.mark(session, [first, second])
    assert stats.refresh(session) == [first, second]
    first_campaign = session.get(Campaign, first)
    assert first_campaign.stats_refreshed_at is not None and first_campaign.stats_refresh_seconds > 0
    # As if recomputing the first campaign had taken 100 s: it waits 1,000 s; the screen's refresh
    # (max_rows) leaves a campaign bigger than its budget to the scheduler.
    first_campaign.stats_refresh_seconds = 100.0
    second_campaign = session.get(Campaign, second)
    second_campaign.total_recipients = 500_000
    second_campaign.stats_refreshed_at -= timedelta(seconds=10)  # small: waited long enough
    stats.mark(session, [first, second])
    assert stats.refresh(session, max_rows=200_000) == []
    assert stats.pending(session) == 2  # both still marked
    assert stats.refresh(session) == [second]
    first_campaign.stats_refreshed_at -= timedelta(seconds=1001)
    assert stats.refresh(session) == [first] and stats.pending(session) == 0
