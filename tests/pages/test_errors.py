"""A failure nobody foresaw: a French message with a reference on the screen, the detail (phones
masked) in the log under that reference, never a traceback or a query on the screen."""

from __future__ import annotations

import logging
import re

from sqlalchemy import text

from core import db
from tests.pages.conftest import app_as


def test_an_unexpected_error_shows_a_reference_and_logs_the_detail(seeded, caplog) -> None:  # noqa: ANN001
    with db.session_scope() as session:  # the database loses a table the home screen reads
        session.execute(text("DROP TABLE campaigns"))
    with caplog.at_level(logging.ERROR, logger="app"):
        at = app_as(seeded["supervisor"]).run()
    assert not at.exception  # Streamlit's own error box (with its traceback) is not shown
    [shown] = [e.value for e in at.error]
    reference = re.search(r"\*\*([0-9A-F]{8})\*\*", shown).group(1)
    assert shown.startswith("Une erreur inattendue est survenue") and "campaigns" not in shown.lower()
    [logged] = [r for r in caplog.records if r.name == "app"]
    assert reference in logged.getMessage() and logged.exc_info and "campaigns" in str(logged.exc_info[1])


def test_stop_and_rerun_are_not_taken_for_errors(seeded) -> None:  # noqa: ANN001
    at = app_as(None).run()  # signed out: the sign-in screen ends with st.stop()
    assert not at.error and not at.exception and at.text_input(key="login_email")
