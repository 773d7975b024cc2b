"""The knowledge base and chatbot screens, as managers and agents use them; the roles that may
not open them are refused."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from core import db
from core.models import ChatbotInteraction, KnowledgeDocument
from core.timeutil import utcnow
from rag import kb
from tests.pages.conftest import ROOT, app_as


@pytest.fixture
def with_kb(seeded, monkeypatch):  # noqa: ANN001, ANN201
    from core import config
    from rag import store

    monkeypatch.setenv("VECTOR_STORE", "memory")
    config.reload_settings()
    store._default = None
    kb._state.update({"index": None, "signature": None, "checked": 0.0})
    with db.session_scope() as session:
        kb.seed_demo(session)
    yield seeded
    store._default = None


def open_page(user_id: int, page: str):  # noqa: ANN201
    at = app_as(user_id).run()
    return at.switch_page(f"pages/{page}.py").run()


def test_manager_lists_previews_disables_and_deletes(with_kb) -> None:  # noqa: ANN001
    at = open_page(with_kb["manager"], "knowledge")
    assert not at.exception
    assert int(at.metric[0].value) == 6 and int(at.metric[2].value) > 6
    document_id = at.selectbox(key="kb_choice").value
    labels = [e.label for e in at.expander]
    assert labels[0] == "Qualité des réponses : dernière évaluation" and labels[1].startswith("Passage 1")
    at.button(key=f"kb_toggle_{document_id}").click().run()
    with db.session_scope() as session:
        assert not session.get(KnowledgeDocument, document_id).enabled
    at.button(key=f"kb_reindex_{document_id}").click().run()
    at.button(key=f"kb_delete_{document_id}").click().run()
    at.button(key=f"kb_delete_ok_{document_id}").click().run()
    assert not at.exception
    with db.session_scope() as session:
        assert session.get(KnowledgeDocument, document_id) is None
        assert len(session.scalars(select(KnowledgeDocument)).all()) == 5


def test_agent_chats_sees_sources_and_rates_an_answer(with_kb) -> None:  # noqa: ANN001
    at = open_page(with_kb["agent"], "chatbot")
    assert not at.exception
    at.chat_input(key="pg_question").set_value("Combien vaut la prime de naissance ?").run()
    assert not at.exception
    assert any("8 000 FCFA" in m.value for m in at.markdown)
    assert any(e.label.startswith("Sources") for e in at.expander)
    with db.session_scope() as session:
        interaction = session.scalar(select(ChatbotInteraction).where(ChatbotInteraction.channel == "playground"))
        assert interaction.user_id == with_kb["agent"] and not interaction.refused
        interaction_id = interaction.id
    at.text_input(key=f"fb_comment_{interaction_id}").input("Très clair")
    at.button(key=f"fb_1_{interaction_id}").click().run()
    with db.session_scope() as session:
        rated = session.get(ChatbotInteraction, interaction_id)
        assert (rated.feedback, rated.feedback_comment) == (1, "Très clair")
    at.chat_input(key="pg_question").set_value("Quelle est la capitale du Japon ?").run()
    assert len([m for m in at.chat_message if m.name == "user"]) == 2, [m.name for m in at.chat_message]
    assert any(c.value.startswith("Refus") for c in at.caption), [c.value for c in at.caption if "confiance" in c.value]


def _evaluated() -> dict:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with db.session_scope() as session:
            state = kb.latest_evaluation(session)
        if state and state["status"] != "running":
            return state
        time.sleep(0.5)
    raise AssertionError("the evaluation job did not finish")


def test_an_evaluation_of_the_live_base_runs_as_a_job_and_every_screen_shows_it(with_kb) -> None:  # noqa: ANN001
    agent = open_page(with_kb["agent"], "chatbot")
    assert not agent.exception and not [b for b in agent.button if b.key == "chatbot_eval_run"]  # agents read it
    assert any("Aucune évaluation" in i.value for i in agent.info)
    at = open_page(with_kb["manager"], "chatbot")
    at.button(key="chatbot_eval_run").click().run()
    assert not at.exception
    assert [p for p in at.get("progress")] or _evaluated()  # the bar while it runs (it may be done already)
    state = _evaluated()
    assert state["status"] == "done" and state["by"] and state["figures"]["n"] >= 75
    for page, user in (("chatbot", "agent"), ("knowledge", "manager")):
        shown = open_page(with_kb[user], page)
        metrics = {m.label: m.value for m in shown.metric}
        assert int(metrics["Dans les 3 premiers"].rstrip("%\u202f ")) >= 95, metrics
        assert any("Dernière évaluation" in c.value for c in shown.caption)
    with db.session_scope() as session:
        from core.models import AuditLog

        assert session.scalar(select(AuditLog).where(AuditLog.action == "kb_evaluation_started")) is not None


def test_a_second_evaluation_is_refused_while_one_runs(with_kb) -> None:  # noqa: ANN001
    from core.errors import UserError

    kb._evaluation_state({"status": "running", "done": 3, "total": 79, "by": "Awa",
                          "started_at": "2026-12-03T10:00:00+00:00", "updated_at": utcnow().isoformat()})
    with db.session_scope() as session, pytest.raises(UserError, match="déjà en cours"):
        kb.start_evaluation(session)
    at = open_page(with_kb["manager"], "knowledge")
    assert not at.exception and not [b for b in at.button if b.key == "kb_eval_run"]
    assert any("3 questions sur 79" in p.proto.text for p in at.get("progress"))


@pytest.mark.parametrize("page, role", [("knowledge", "agent"), ("knowledge", "supervisor"),
                                        ("chatbot", "supervisor")])
def test_other_roles_are_refused(seeded, page, role) -> None:  # noqa: ANN001
    at = app_as(seeded[role], script=str(ROOT / "pages" / f"{page}.py")).run()
    assert at.error and "Accès refusé" in at.error[0].value
