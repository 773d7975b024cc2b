"""Every screen, for every role that may open it, in Chromium on the demo data: each tab is opened
and the text a user can see is read. It fails on English words (Streamlit's own texts, plotly's
dates, status codes), also in tooltips, buttons' labels and empty fields' hints, and on `_`-separated
identifiers; it records how long each screen took to
draw (tests/artifacts/screens/timings.txt; speed targets are measured by the benchmarks), and
refreshes the README's screenshots (docs/screens/, one per screen, taken as its main user)."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from core.models import Role
from core.permissions import PAGES, pages_for
from tests.e2e.test_journey import browser  # noqa: F401 - the module's browser fixture

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "screens"
DOCS = ROOT / "docs" / "screens"
EMAILS = {Role.ADMIN: "admin@cnss.ga", Role.MANAGER: "communication@cnss.ga", Role.SUPERVISOR: "superviseur@cnss.ga",
          Role.AGENT: "agent@cnss.ga"}
# Who each screen's README screenshot is taken as: the person who uses it most.
SHOWN_AS = {"home": Role.MANAGER, "contacts": Role.MANAGER, "segments": Role.MANAGER, "templates": Role.MANAGER,
            "campaigns": Role.MANAGER, "analytics": Role.SUPERVISOR, "inbox": Role.AGENT, "chatbot": Role.AGENT,
            "knowledge": Role.MANAGER, "users": Role.ADMIN, "health": Role.ADMIN, "settings": Role.ADMIN}
ENGLISH = re.compile(
    r"\b(Choose|Upload|Browse files|Drag and drop|per file|Press Enter|No results|No data|Download|Search|Loading|"
    r"Running|Error|Exception|Traceback|None|NaN|nan|True|False|null|Show|Hide|Select|Submit|Cancel|Delete|Clear|"
    r"Deploy|Rerun|Settings|avg|sum of|count of|sent|delivered|read_rate|failed|pending|opted_in|opted_out|"
    r"Collapse|Expand|Open|Help for|Increment|Decrement|Choose|start date|end date|Remove|Copy|Fullscreen|"
    r"Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|Tue|Wed|Thu|Fri|Sat|Sun|AM|PM)\b")
IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?!\.[a-z])")  # `opted_in`, not `guide_cnss.pdf`
VISIBLE_TEXT = """() => {
  // Icons are ligatures of a symbol font: `smart_toy`, `check_circle` are drawn as pictures.
  const icons = [...document.querySelectorAll('[data-testid="stIconMaterial"], [data-testid$="Icon"][translate="no"], '
                                              + 'span[role="img"][translate="no"]')];
  icons.forEach(i => i.style.setProperty('display', 'none'));
  const roots = ['stSidebar', 'stMain'].map(id => document.querySelector(`[data-testid="${id}"]`)).filter(Boolean);
  const seen = roots.map(root => root.innerText);
  icons.forEach(i => i.style.removeProperty('display'));
  // What shows on hover or is read aloud: tooltips, labels of buttons without text, empty fields' hints.
  for (const root of roots) {
    for (const el of root.querySelectorAll('[aria-label], [title], [placeholder]')) {
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height || (el.getAttribute('role') === 'img' && el.getAttribute('translate') === 'no')) {
        continue;
      }
      seen.push(...['aria-label', 'title', 'placeholder'].map(name => el.getAttribute(name) || ''));
    }
  }
  return seen.join('\\n');
}"""


def idle(page, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    page.wait_for_timeout(250)
    while time.monotonic() < deadline and page.locator('[data-testid="stStatusWidget"]').count():
        page.wait_for_timeout(100)


def foreign(seen: str, allowed: set[str]) -> list[str]:
    words = {m.group(0) for m in ENGLISH.finditer(seen)}
    words |= {m.group(0) for m in IDENTIFIER.finditer(seen)} - allowed
    return sorted(words)


def test_every_screen_for_every_role_speaks_french(running_app, browser) -> None:  # noqa: ANN001, F811
    engine = create_engine(running_app.database_url)
    with engine.connect() as connection:  # WhatsApp's own names (`rappel_cotisation`) are the templates' names
        allowed = set(connection.execute(text("SELECT name FROM templates")).scalars())
    engine.dispose()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    DOCS.mkdir(parents=True, exist_ok=True)
    problems: dict[str, list[str]] = {}
    timings: list[str] = []
    for role, email in EMAILS.items():
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
        page.set_default_timeout(30_000)
        started = time.monotonic()
        page.goto(running_app.base)
        page.get_by_label("Adresse e-mail").wait_for()
        timings.append(f"{role.value:<10} connexion        {time.monotonic() - started:5.2f} s")
        page.get_by_label("Adresse e-mail").fill(email)
        page.get_by_label("Mot de passe", exact=True).fill(running_app.passwords[email])
        page.get_by_role("button", name="Se connecter").click()
        page.get_by_role("heading", name="Accueil").wait_for()
        assert [s.key for s in pages_for(role)], role
        for spec in pages_for(role):
            started = time.monotonic()
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=spec.title, exact=True).click()
            page.get_by_role("heading", name=spec.title).first.wait_for()
            idle(page)
            timings.append(f"{role.value:<10} {spec.key:<16} {time.monotonic() - started:5.2f} s")
            seen = [page.evaluate(VISIBLE_TEXT)]
            if SHOWN_AS[spec.key] == role:
                page.screenshot(path=str(DOCS / f"{spec.key}.png"))
            tabs = page.get_by_role("tab")
            for i in range(tabs.count()):
                tabs.nth(i).click()
                idle(page)
                seen.append(page.evaluate(VISIBLE_TEXT))
            page.screenshot(path=str(ARTIFACTS / f"{role.value}-{spec.key}.png"))
            found = foreign("\n".join(seen), allowed)
            if found:
                problems[f"{role.value} / {spec.key}"] = found
        page.close()
    (ARTIFACTS / "timings.txt").write_text("\n".join(timings) + "\n", encoding="utf-8")
    assert {p.key for p in PAGES} == set(SHOWN_AS)
    assert problems == {}, problems
