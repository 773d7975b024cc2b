"""Every page for every role: allowed roles render it, the others cannot reach it."""

from __future__ import annotations

import re

import pytest

from core.models import Role
from core.permissions import PAGES, pages_for
from tests.pages.conftest import ROOT, app_as

CASES = [(spec, role.value) for spec in PAGES for role in Role]
IDENTIFIER = re.compile(r"^id$|^[a-z0-9]+(_[a-z0-9]+)+$")  # a column called `id`, `opted_in`, `type_assure`
FOREIGN_NUMBER = re.compile(r"\d\.\d|\d%|\d,\d{3}\b")  # 0.83, 84%, 1,234: French writes 0,83, 84 %, 1 234


@pytest.mark.parametrize("spec, role", CASES, ids=[f"{s.key}-{r}" for s, r in CASES])
def test_page_access_by_role(spec, role, seeded) -> None:  # noqa: ANN001
    at = app_as(seeded[role]).run()
    assert not at.exception
    if spec.can_open(role):
        at.switch_page(spec.file).run()
        assert not at.exception, at.exception
        assert [t.value for t in at.title] == [spec.title]
        assert not [e.value for e in at.error]
        # An empty choice shows its placeholder: Streamlit's own is English (« Choose options »).
        english = [w.label for w in [*at.multiselect, *at.selectbox]
                   if not w.proto.placeholder.strip() and (w.type == "multiselect" or not w.proto.HasField("default"))]
        assert english == [], f"{spec.key}: French placeholders needed for {english}"
        # Table headers are words, not identifiers; figures are written the French way.
        headers = [str(h) for frame in at.dataframe for h in [*frame.value.columns, *frame.value.index.names] if h]
        assert [h for h in headers if IDENTIFIER.match(h)] == [], f"{spec.key}: identifiers as table headers"
        assert [m.value for m in at.metric if FOREIGN_NUMBER.search(m.value)] == [], spec.key
        if not spec.can_edit(role):
            assert any("Consultation seule" in i.value for i in at.info)
    else:
        # Not in this role's navigation: Streamlit has no route to it.
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(spec.file)
        # And the page refuses on its own if it is run directly.
        direct = app_as(seeded[role], script=str(ROOT / spec.file)).run()
        assert not direct.exception
        assert [e.value for e in direct.error] == ["Accès refusé : votre rôle ne permet pas d'ouvrir cet écran."]
        assert not direct.title


@pytest.mark.parametrize("spec", PAGES, ids=[s.key for s in PAGES])
def test_no_page_opens_without_signing_in(spec, seeded) -> None:  # noqa: ANN001
    direct = app_as(None, script=str(ROOT / spec.file)).run()
    assert [e.value for e in direct.error] == ["Veuillez vous connecter pour accéder à cet écran."]


def test_every_role_has_a_navigation_of_its_own() -> None:
    keys = {role: {p.key for p in pages_for(role)} for role in Role}
    assert keys[Role.ADMIN] == {p.key for p in PAGES}
    assert keys[Role.MANAGER] == {"home", "contacts", "segments", "templates", "campaigns", "analytics", "inbox",
                                  "chatbot", "knowledge"}
    assert keys[Role.SUPERVISOR] == {"home", "contacts", "segments", "templates", "campaigns", "analytics", "inbox"}
    assert keys[Role.AGENT] == {"home", "inbox", "chatbot"}


def test_sandbox_is_shown_on_every_page(seeded) -> None:  # noqa: ANN001
    at = app_as(seeded["admin"]).run()
    for spec in PAGES:
        at.switch_page(spec.file).run()
        assert any("bac à sable" in w.value for w in at.warning), spec.key
