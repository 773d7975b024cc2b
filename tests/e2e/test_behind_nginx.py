"""The site as production serves it, in a real browser: nginx with deploy/nginx in front of the app,
over https with its first-start certificate. Every screen an administrator opens works under the
Content-Security-Policy (no script, style, font or image refused, no error) and the page cannot be
framed."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REQUIRE_SERVICES
from tests.e2e.test_journey import Journey, browser  # noqa: F401 - the module's browser fixture

# Collects what the browser refuses under the policy, from the first script on.
WATCH = """window.__refused = [];
document.addEventListener('securitypolicyviolation',
    e => window.__refused.push(e.violatedDirective + ' ' + e.blockedURI));"""


def test_every_screen_works_under_the_security_policy(running_app, browser, tmp_path) -> None:  # noqa: ANN001, F811
    nginx = shutil.which("nginx")
    if nginx is None or shutil.which("openssl") is None:
        if REQUIRE_SERVICES:
            pytest.fail("nginx and openssl are needed (make test installs them with apt)")
        pytest.skip("nginx or openssl is not installed")
    from tests.support.nginx import start_nginx

    proxy = start_nginx(nginx, tmp_path, app_port=running_app.port, webhooks_port=running_app.port)
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 1000}, locale="fr-FR")
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    try:
        me = Journey(page, proxy.https)
        me.sign_in("admin@cnss.ga", running_app.passwords["admin@cnss.ga"])
        nav = page.get_by_test_id("stSidebarNav").get_by_role("link")
        screens = [nav.nth(i).inner_text().strip().split("\n")[-1] for i in range(nav.count())]  # (after the icon)
        assert len(screens) >= 8, screens
        for screen in screens:
            me.open(screen)
            assert page.get_by_test_id("stException").count() == 0, screen
            assert page.evaluate("window.__refused") == [], (screen, page.evaluate("window.__refused"))
        me.open("Paramètres")
        page.get_by_test_id("stTable").wait_for()
        me.shot("behind-nginx-https-settings")
        me.open("Statistiques")
        page.locator(".js-plotly-plot").first.wait_for()  # Plotly draws under the policy
        page.wait_for_timeout(1000)
        assert page.evaluate("window.__refused") == []
        me.shot("behind-nginx-https-statistics")
        refused = [line for line in console if "Content Security Policy" in line]
        assert refused == [], refused
        framed = page.evaluate("""async () => {
            const frame = document.createElement('iframe');
            frame.src = location.origin + '/_stcore/health';
            document.body.appendChild(frame);
            await new Promise(r => setTimeout(r, 1500));
            try { return frame.contentDocument && frame.contentDocument.body.innerText; }
            catch (e) { return 'blocked'; }
        }""")
        assert framed != "ok"  # X-Frame-Options / frame-ancestors: not even the site frames itself
    finally:
        context.close()
        proxy.stop()
