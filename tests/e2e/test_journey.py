"""The whole job in a real browser: Debian's Chromium driven by Playwright against `streamlit run
app.py` on the embedded default with the demo data. A communication officer signs in, imports a
contact file, checks a template, creates and launches a campaign in the sandbox, watches it
complete, finds its figures in the statistics, asks the chatbot a question and sees its sources,
and signs out; an agent then signs in and cannot reach the campaign screens. Each step leaves a
screenshot in tests/artifacts/journey/ (the README's screenshot is one of them)."""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "artifacts" / "journey"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MANAGER, AGENT = "communication@cnss.ga", "agent@cnss.ga"
SEGMENT = "Assurés Oyem import test"
CAMPAIGN = "Rappel certificat de vie Oyem"
CONTACTS_CSV = (
    "téléphone;prénom;nom;agence;type_assure\n"
    "077 41 20 01;Awa;Ndong;Oyem;pensionné\n"
    "+241 66 41 20 02;Jean;Mba;Oyem;pensionné\n"
    "07 41 20 03;Marie;Obiang;Oyem;assuré\n"
    "(+241) 74-41-20-04;Paul;Nze;Oyem;pensionné\n"
    "00241 62 41 20 05;Claire;Mintsa;Oyem;assuré\n"
    "2.41077e+11;Excel;Abîmé;Oyem;assuré\n"
)


@pytest.fixture(scope="module")
def browser():  # noqa: ANN201
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (make test installs Debian's chromium with apt)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"])
        yield chromium
        chromium.close()


class Journey:
    """One browser tab, with the few gestures a Streamlit screen needs."""

    steps = 0  # shared by every tab, so the screenshots sort in the order of the journey

    def __init__(self, page, base: str) -> None:  # noqa: ANN001
        self.page, self.base = page, base
        page.set_default_timeout(30_000)

    def shot(self, name: str) -> Path:
        Journey.steps += 1
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{Journey.steps:02d}-{name}.png"
        self.idle()
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def idle(self, timeout: float = 60.0) -> None:
        """Wait until Streamlit has finished running the script (its 'running' indicator is gone)."""
        deadline = time.monotonic() + timeout
        self.page.wait_for_timeout(300)
        while time.monotonic() < deadline:
            if self.page.locator('[data-testid="stStatusWidget"]').count() == 0:
                return
            self.page.wait_for_timeout(200)

    def sign_in(self, email: str, password: str) -> None:
        self.page.goto(self.base)
        self.page.get_by_label("Adresse e-mail").fill(email)
        self.page.get_by_label("Mot de passe", exact=True).fill(password)
        self.page.get_by_role("button", name="Se connecter").click()
        self.page.get_by_role("heading", name="Accueil").wait_for()

    def open(self, screen: str) -> None:
        self.page.get_by_test_id("stSidebarNav").get_by_role("link", name=screen, exact=True).click()
        self.page.get_by_role("heading", name=screen).first.wait_for()
        self.idle()

    def text_input(self, label: str, value: str) -> None:
        box = self.page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        self.idle()

    def choose(self, label: str, option: str) -> None:
        """A selectbox or multiselect: open it by its label, click the option."""
        self.page.get_by_role("combobox", name=label, exact=True).click()
        self.page.get_by_role("option", name=re.compile(re.escape(option))).first.click()
        self.page.keyboard.press("Escape")
        self.idle()

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()
        self.idle()

    def visible(self, text: str, timeout: float = 30_000) -> None:
        self.page.get_by_text(text).first.wait_for(state="visible", timeout=timeout)


def test_the_whole_journey_in_chromium(running_app, browser, tmp_path: Path) -> None:  # noqa: ANN001
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    me = Journey(page, running_app.base)

    # Sign in.
    me.sign_in(MANAGER, running_app.passwords[MANAGER])
    me.visible("Mode bac à sable")
    me.shot("accueil")

    # Import a contact file into a new segment.
    me.open("Contacts")
    me.tab("Importer")
    contacts = tmp_path / "assures-oyem.csv"
    contacts.write_text(CONTACTS_CSV, encoding="cp1252")
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(contacts))
    me.visible("Correspondance des colonnes")
    page.get_by_text("Les personnes de ce fichier ont accepté").click()
    me.text_input("… ou créer un nouveau segment", SEGMENT)
    page.get_by_role("button", name="Importer", exact=True).click()
    me.visible("Import terminé", timeout=60_000)
    created = page.locator('[data-testid="stMetric"]').filter(has_text="Créés")
    assert created.locator('[data-testid="stMetricValue"]').inner_text().strip() == "5"
    rejected = page.locator('[data-testid="stMetric"]').filter(has_text="Rejetés")
    assert rejected.locator('[data-testid="stMetricValue"]').inner_text().strip() == "1"  # the Excel-damaged number
    me.shot("import-contacts")

    # Check a template: the approved demo template, its rules and its WhatsApp preview.
    me.open("Modèles WhatsApp")
    me.choose("Modèle", "rappel_certificat_vie")
    me.visible("Aperçu")
    me.shot("modele")

    # Create and launch a campaign for the imported people, sent at once, without quiet hours.
    me.open("Campagnes")
    me.tab("Nouvelle campagne")
    me.text_input("Nom de la campagne", CAMPAIGN)
    me.choose("Segments inclus", SEGMENT)
    destinataires = page.locator('[data-testid="stMetric"]').filter(has_text="Destinataires")
    assert destinataires.locator('[data-testid="stMetricValue"]').inner_text().strip() == "5"
    me.choose("Modèle approuvé", "rappel_certificat_vie")
    quiet = page.get_by_text("Respecter des heures calmes")
    quiet.click()
    me.idle()
    me.visible("Coût estimé")
    me.shot("assistant-campagne")
    # An impatient double click: one campaign, and the form empties itself.
    page.get_by_role("button", name="Lancer la campagne").dblclick()
    me.visible("Campagne lancée.")
    me.idle()
    engine = create_engine(running_app.database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM campaigns WHERE name = :n"), {"n": CAMPAIGN}).scalar() == 1
    engine.dispose()
    assert page.get_by_label("Nom de la campagne").input_value() == ""

    # Watch it complete: the new campaign is open in the list, its progress refreshes every 2 s.
    me.open("Campagnes")
    me.tab("Campagnes")
    page.get_by_role("combobox", name="Ouvrir la campagne").wait_for()
    assert CAMPAIGN in page.get_by_role("combobox", name="Ouvrir la campagne").input_value()
    me.shot("campagne-en-cours")
    page.get_by_text(re.compile(r"5 / 5 traités — Terminée")).wait_for(timeout=180_000)
    sent_metric = page.locator('[data-testid="stMetric"]').filter(has_text="Envoyés")
    assert sent_metric.count() >= 1
    me.shot("campagne-terminee")

    # Its figures in the statistics.
    me.open("Statistiques")
    page.get_by_role("button", name="Actualiser").click()
    me.idle()
    me.visible("Entonnoir envoyé → remis → lu → répondu")
    assert page.locator(".js-plotly-plot").filter(has_text=CAMPAIGN).count() >= 1
    sent = page.locator('[data-testid="stMetric"]').filter(has_text="Envoyés").first
    assert int(re.sub(r"\D", "", sent.locator('[data-testid="stMetricValue"]').inner_text())) >= 5
    me.shot("statistiques")

    # Ask the chatbot, see the answer's sources. It was loaded when the app started, not by this question.
    assert "Chatbot ready in" in running_app.log.read_text()
    me.open("Assistant virtuel")
    page.get_by_test_id("stChatInputTextArea").fill("Combien touche-t-on pour la prime de naissance ?")
    page.get_by_test_id("stChatInputTextArea").press("Enter")
    expander = page.locator('[data-testid="stExpander"]').filter(has_text="Sources")
    expander.first.wait_for(timeout=120_000)
    expander.first.locator("summary").click()
    me.visible("8 000")
    me.shot("assistant-virtuel")

    # Sign out.
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("button", name="Se connecter").wait_for()
    me.shot("deconnexion")

    # An agent cannot open the campaign screens: absent from the navigation, and not reachable by URL.
    agent = Journey(browser.new_page(viewport={"width": 1400, "height": 1000}), running_app.base)
    agent.sign_in(AGENT, running_app.passwords[AGENT])
    nav = agent.page.get_by_test_id("stSidebarNav")
    assert nav.get_by_role("link", name="Conversations").count() == 1
    for screen in ("Campagnes", "Contacts", "Modèles WhatsApp", "Statistiques"):
        assert nav.get_by_role("link", name=screen, exact=True).count() == 0, screen
    agent.shot("agent-navigation")
    agent.page.goto(f"{running_app.base}/campaigns")  # a bookmark: a new browser session, signed out
    agent.page.get_by_label("Adresse e-mail").fill(AGENT)
    agent.page.get_by_label("Mot de passe", exact=True).fill(running_app.passwords[AGENT])
    agent.page.get_by_role("button", name="Se connecter").click()
    agent.visible("Accès refusé : votre rôle ne permet pas d'ouvrir cet écran.")
    assert agent.page.get_by_role("heading", name="Campagnes").count() == 0
    assert agent.page.get_by_text("Nouvelle campagne").count() == 0
    assert agent.page.get_by_text("Page not found").count() == 0
    agent.shot("agent-url-campagnes")
