"""Untrusted text is shown as text, in a real browser: a WhatsApp message and a contact name full of
Markdown, HTML and LaTeX, with an image on another server, open in the agents' inbox and the
contact record. Nothing is rendered (no image, link, formula, heading), nothing is loaded from that
server, and the characters the person typed are all there."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from core import db, users
from core.models import Contact, Conversation, Message
from core.timeutil import utcnow
from tests.e2e.test_journey import Journey, browser  # noqa: F401 - the module's browser fixture

PASSWORD = "Contenu-Hostile-2026"


class _Spy(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Spy.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_markdown_html_and_latex_from_a_person_are_shown_as_typed(running_app, browser) -> None:  # noqa: ANN001, F811
    spy = ThreadingHTTPServer(("127.0.0.1", 0), _Spy)
    threading.Thread(target=spy.serve_forever, daemon=True).start()
    leak = f"http://127.0.0.1:{spy.server_address[1]}/leak-{uuid.uuid4().hex[:6]}.png"
    name = f"**Awa** <img src='{leak}'> _Hostile_"
    text = (f"# Titre\n![photo]({leak}) [cliquez ici](https://phishing.example/cnss) **gras** "
            f"<b>html</b> <img src=\"{leak}?html\"> $x^2$ $$\\int_0^1 f$$ www.exemple.ga `code`\n"
            "1. liste\n> citation :material/warning: :smile: \u202eesrever\u202c a -> b <- c -- d")
    with db.session_scope(running_app.database_url) as session:
        users.create(session, email="agent.hostile@cnss.ga", name="Agent <b>Test</b>", role="agent",
                     password=PASSWORD)
        contact = Contact(phone="+24177290001", first_name=name, window_expires_at=utcnow() + timedelta(hours=2),
                          last_inbound_at=utcnow())
        session.add(contact)
        session.flush()
        conversation = Conversation(contact_id=contact.id, status="waiting_agent", handoff_reason="requested",
                                    last_message_at=utcnow())
        session.add(conversation)
        session.flush()
        session.add(Message(conversation_id=conversation.id, contact_id=contact.id, direction="inbound",
                            author="contact", text=text))
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, locale="fr-FR")
    me = Journey(page, running_app.base)
    me.sign_in("agent.hostile@cnss.ga", PASSWORD)
    me.open("Conversations")
    main = page.get_by_test_id("stMain")
    main.get_by_role("button", name="**Awa**", exact=False).first.click()  # (others wait longer: listed first)
    main.get_by_text("**gras**", exact=False).first.wait_for()
    me.shot("inbox-hostile-message")
    assert main.locator(f"img[src^='{leak[:30]}']").count() == 0
    assert main.locator("a[href*='phishing']").count() == 0 and main.locator(".katex").count() == 0
    links = main.locator("a[href]:not([href^='#'])")  # (headings carry their own anchor)
    assert links.count() == 0, [links.nth(i).get_attribute("href") for i in range(links.count())]  # none at all
    assert main.locator("h1:has-text('Titre'), blockquote, ol, code, strong:has-text('gras')").count() == 0
    icons = main.locator("[data-testid='stChatMessage'] [data-testid='stMarkdownContainer'] span[role='img']")
    assert icons.count() == 0  # `:material/warning:` and `:smile:` are text, not an icon and an emoji
    shown = main.inner_text().replace("\u2060", "")  # (the invisible joiners that keep addresses text)
    assert "\u202e" not in shown  # no letters shown in another order than they were typed
    for typed in ("# Titre", f"![photo]({leak})", "[cliquez ici](https://phishing.example/cnss)", "<b>html</b>",
                  "$x^2$", "$$\\int_0^1 f$$", "www.exemple.ga", "`code`", "1. liste", "> citation", "**Awa**",
                  "_Hostile_", f"<img src='{leak}'>", ":material/warning:", ":smile:", "esrever",
                  "a -> b <- c -- d"):
        assert typed in shown, typed
    page.get_by_test_id("stSidebar").get_by_text("Agent <b>Test</b>").wait_for()
    page.wait_for_timeout(1000)
    assert _Spy.hits == []  # nothing was asked of the other server
    page.close()
    spy.shutdown()
