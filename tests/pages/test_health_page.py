"""État du système: what an administrator sees, and that nobody else opens it."""

from __future__ import annotations

import pytest

from tests.pages.conftest import app_as


def test_the_health_screen_shows_what_to_fix(seeded, redis_url: str) -> None:  # noqa: ANN001
    at = app_as(seeded["admin"]).run()
    at.switch_page("pages/health.py").run()
    assert not at.exception
    assert [e.value for e in at.error] == ["1 point(s) à corriger : Workers."]
    text = " ".join(m.value for m in at.markdown)
    assert "Aucun worker enregistré" in text and "Base de données" in text


@pytest.mark.parametrize("role", ["manager", "supervisor", "agent"])
def test_only_administrators_open_the_health_screen(seeded, role: str) -> None:  # noqa: ANN001
    at = app_as(seeded[role]).run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/health.py")
