"""One data set, one answer: the campaign list, the campaign detail, the statistics cards, tables,
charts and CSV exports give the same figures for the same campaign (core/figures.py defines them),
and the staff's test questions to the chatbot count nowhere in the statistics."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import app_test

from core import db
from core.models import Campaign, ChatbotInteraction, Recipient
from core.timeutil import utcnow
from tests.pages.conftest import app_as

FIGURES = ("Envoyés", "Remis", "Lus", "Échecs")


def number(text: str) -> int:
    return int(str(text).split("(")[0].replace("\u202f", "").replace("\u00a0", "").strip())


def by_status(session, campaign_id: int) -> dict[str, int]:  # noqa: ANN001
    return dict(session.execute(select(Recipient.status, func.count()).where(Recipient.campaign_id == campaign_id)
                                .group_by(Recipient.status)).all())


STORES: list[MemoryMediaFileStorage] = []


class KeptStorage(MemoryMediaFileStorage):
    """AppTest's in-memory media store, kept after the run so that a download can be read back."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        STORES.append(self)


@pytest.fixture(autouse=True)
def kept_downloads(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(app_test, "MemoryMediaFileStorage", KeptStorage)


def csv_of(at, label: str) -> list[dict[str, str]]:  # noqa: ANN001
    """The file a download button gives, read back from Streamlit's media store."""
    [button] = [b for b in at.get("download_button") if b.proto.label == label]
    file_id = button.proto.url.rsplit("/", 1)[-1].split(".")[0]
    data = STORES[-1].get_file(file_id).content
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))


def test_list_detail_statistics_charts_and_csv_agree(seeded) -> None:  # noqa: ANN001
    with db.session_scope() as session:
        done = session.scalars(select(Campaign).where(Campaign.status == "completed").order_by(Campaign.id)).all()
        assert done
        expected = {}
        for campaign in done:
            counts = by_status(session, campaign.id)
            expected[campaign.name] = {
                "Envoyés": sum(counts.get(s, 0) for s in ("sent", "delivered", "read", "failed")),
                "Remis": counts.get("delivered", 0) + counts.get("read", 0), "Lus": counts.get("read", 0),
                "Échecs": counts.get("failed", 0)}
        ids = {c.name: c.id for c in done}
        # A failure refused at sending (never "sent") counts among Envoyés and Échecs everywhere.
        assert any(v["Échecs"] for v in expected.values())
        # Staff test questions in the playground: never in the statistics.
        for n in range(7):
            session.add(ChatbotInteraction(channel="playground", question=f"essai {n}", answer="A",
                                           created_at=utcnow() - timedelta(hours=1), topic="Essai du personnel"))

    # The campaign list.
    at = app_as(seeded["manager"]).run().switch_page("pages/campaigns.py").run()
    assert not at.exception
    listed = at.dataframe[0].value
    for name, figures in expected.items():
        row = listed[listed["Campagne"] == name].iloc[0]
        assert {key: int(row[key]) for key in FIGURES} == figures, name

    # Each campaign's detail.
    for name, figures in expected.items():
        at.selectbox(key="campaign_choice").select(ids[name]).run()
        metrics = {m.label: m.value for m in at.metric}
        assert {key: number(metrics[key]) for key in FIGURES} == figures, name

    # The statistics: cards, funnel table, funnel chart and its CSV, over the last 30 days.
    at = app_as(seeded["supervisor"]).run().switch_page("pages/analytics.py").run()
    assert not at.exception
    with db.session_scope() as session:
        since = utcnow() - timedelta(days=29)
        in_period = {c.name for c in done if session.scalar(select(func.min(Recipient.sent_at)).where(
            Recipient.campaign_id == c.id)) >= since.replace(hour=0, minute=0)}
    assert in_period
    table = at.dataframe[0].value
    for name in in_period:
        row = table[table["Campagne"] == name].iloc[0]
        assert {key: int(row[key]) for key in FIGURES} == expected[name], name
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = {trace["name"]: dict(zip(trace["x"], trace["y"], strict=True)) for trace in chart["data"]}
    for name in in_period:
        assert {key: bars[key][name] for key in ("Envoyés", "Remis", "Lus")} == \
            {key: expected[name][key] for key in ("Envoyés", "Remis", "Lus")}
    exported = {row["Campagne"]: row for row in csv_of(at, "Comparaison des campagnes (CSV)")}
    for name in in_period:
        assert {key: int(exported[name][key]) for key in FIGURES} == expected[name]
    cards = {m.label: m.value for m in at.metric}
    for key in FIGURES:
        assert number(cards[key]) == int(table[key].sum()), key
    # The chatbot: the cards, the daily chart and the topics count the same questions, WhatsApp only.
    questions = number(cards["Questions traitées par l'assistant"]) + number(cards["Transmises à un agent"])
    daily = [c for c in at.get("plotly_chart") if "par jour" in json.loads(c.proto.spec)["layout"]["title"]["text"]
             and "Questions" in json.loads(c.proto.spec)["layout"]["title"]["text"]]
    assert daily
    spec = json.loads(daily[0].proto.spec)
    assert sum(sum(trace["y"]) for trace in spec["data"]) == questions
    topics = [frame.value for frame in at.dataframe if "Sujet" in frame.value.columns]
    assert topics and int(topics[0]["Questions"].sum()) <= questions
    assert "Essai du personnel" not in set(topics[0]["Sujet"])
