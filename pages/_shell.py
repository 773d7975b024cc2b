"""What every screen shares: the signed-in user, the access check, the header and banners.

Screens hold widgets only; every decision is delegated to core/ (or rag/)."""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from core import auth, db, fmt, labels, outbox, permissions, queue, users
from core.config import get_settings
from core.errors import UserError
from core.models import User
from core.text import as_text
from core.timeutil import format_dt, utcnow

T = TypeVar("T")
USER_KEY = "user_id"
LAST_SEEN_KEY = "last_seen"
CURRENT_KEY = "current_user"
FLASH_KEY = "flash"


@dataclass(frozen=True)
class CurrentUser:
    id: int
    email: str
    name: str
    role: str

    @property
    def role_label(self) -> str:
        return labels.ROLE.get(self.role, self.role)


@st.cache_resource(show_spinner=False)
def _schema_ready(database_url: str) -> bool:
    db.ensure_schema(database_url)
    return True


def ensure_schema() -> None:
    _schema_ready(get_settings().database_url)


@st.cache_resource(show_spinner=False)
def _background(database_url: str) -> bool:
    # Embedded mode: campaigns are sent by a scheduler thread of this process. With Redis, the RQ
    # workers (python -m workers) do it and this starts nothing.
    return queue.start_embedded_scheduler("workers.scheduler.tick", get_settings().scheduler_interval_seconds)


def start_background() -> None:
    if get_settings().embedded_scheduler:
        _background(get_settings().database_url)
    if get_settings().rag_warm_up:  # the chatbot screen answers in this process (every answer, embedded)
        _chatbot_warm_up()


@st.cache_resource(show_spinner=False)
def _chatbot_warm_up() -> bool:
    def run() -> None:
        # Here, not at the top: the chatbot's libraries (chromadb, torch) load in this thread, never
        # in the sign-in screen's run.
        from rag import kb

        kb.warm_up()

    threading.Thread(target=run, name="rag-warm-up", daemon=True).start()
    return True


SIGNED_IN_KEY = "signed_in_at"


@functools.cache
def favicon() -> Image.Image:
    """The tab's icon, drawn here (a speech bubble on the CNSS green): a Material icon as favicon
    would be fetched from Google's servers, which the site's security policy (and no internet) refuse."""
    icon = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    draw.rounded_rectangle((0, 0, 63, 63), radius=14, fill=(0, 122, 61, 255))
    draw.ellipse((12, 14, 52, 44), fill=(255, 255, 255, 255))
    draw.polygon([(20, 38), (16, 52), (32, 42)], fill=(255, 255, 255, 255))
    return icon


def client_source() -> str | None:
    """The browser's network address: the header a trusted proxy sets (CLIENT_IP_HEADER), else the
    address of the connection; None for a local run."""
    header = get_settings().client_ip_header.strip()
    try:
        value = st.context.headers.get(header) if header else st.context.ip_address
    except Exception:  # noqa: BLE001 - no browser connection (a script run): no address
        return None
    return (value.strip()[:64] or None) if isinstance(value, str) else None


@dataclass(frozen=True)
class Done(Generic[T]):
    """What `act` returns when the action went through (truthy, even when the value is None)."""

    value: T


def act(action: Callable[[Any], T]) -> Done[T] | None:
    """Run `action(session)` in one transaction and commit it: the one way a screen changes
    something. A refusal (UserError) is shown in French and nothing is changed: None; otherwise
    Done(the action's result). Read what the screen needs inside `action` (rows are detached after)."""
    try:
        with db.session_scope() as session:
            value = action(session)
    except UserError as err:
        st.error(as_text(err))
        return None
    return Done(value)


def nf(value: float) -> str:
    """A count as French readers write it: 12 345 (a narrow no-break space between thousands)."""
    return fmt.number(value)


def me(session: Any) -> User:
    """The signed-in user's row in this session (the acting user of an audited change)."""
    return users.get(session, st.session_state[USER_KEY])


def sign_in(user_id: int) -> None:
    st.session_state.pop(FLASH_KEY, None)  # why the last session ended: said until now
    st.session_state[USER_KEY] = user_id
    st.session_state[LAST_SEEN_KEY] = st.session_state[SIGNED_IN_KEY] = utcnow()


def sign_out(message: str | None = None) -> None:
    user_id = st.session_state.get(USER_KEY)
    if user_id is not None and message is None:
        with db.session_scope() as session:
            auth.logout(session, user_id)
    for key in (USER_KEY, LAST_SEEN_KEY, CURRENT_KEY, SIGNED_IN_KEY):
        st.session_state.pop(key, None)
    if message:
        st.session_state[FLASH_KEY] = message


def current_user(*, touch: bool = True) -> CurrentUser | None:
    """The signed-in user for this run, or None; an expired or disabled session is closed here.
    `touch=False` (a screen refreshing itself): checked, but not counted as activity, so that an open
    tab alone never keeps a session alive."""
    user_id = st.session_state.get(USER_KEY)
    if user_id is None:
        return None
    last_seen = st.session_state.get(LAST_SEEN_KEY) or utcnow()
    with db.session_scope() as session:
        check = auth.check_session(session, user_id, last_seen, signed_in_at=st.session_state.get(SIGNED_IN_KEY))
        if not check.valid:
            reason = check.reason or "unknown"
            user = None
        else:
            assert check.user is not None
            user = CurrentUser(check.user.id, check.user.email, check.user.name, check.user.role)
    if user is None:
        sign_out(auth.SESSION_MESSAGES[reason])
        return None
    if touch:
        st.session_state[LAST_SEEN_KEY] = utcnow()
    st.session_state[CURRENT_KEY] = user
    return user


def still_allowed(page_key: str) -> bool:
    """For screens that refresh themselves on a timer (a fragment does not run the page's access
    check): the session and the role are checked again; if either no longer holds, the whole app
    runs again, which shows the sign-in screen or the refusal."""
    before = st.session_state.get(CURRENT_KEY)
    user = current_user(touch=False)
    if user is None or not permissions.PAGES_BY_KEY[page_key].can_open(user.role) or \
            (before is not None and before.role != user.role):
        st.rerun(scope="app")
        return False
    return True


# Streamlit's built-in texts that have no setting are English: hidden, and the useful ones said again
# in French by the style sheet (tests/e2e/test_screens.py reads every screen for English words). The
# tables' toolbar goes too (« Download as CSV », « Search », « Fullscreen »; its file is not the French
# one): every table that matters has its own French export.
FRENCH_CHROME = """<style>
[data-testid='InputInstructions']{display:none}
[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer']>p{display:none}
[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer']::after{content:'Choisir un fichier'}
[data-testid='stFileUploaderDropzoneInstructions']>div>span{display:none}
[data-testid='stFileUploaderDropzoneInstructions']>div::after{content:'Glissez-le ici, %(size)s au plus';
 font-size:.875rem;color:rgba(27,43,37,.6)}
[role='listbox'][data-empty='true'] [role='option']>span{display:none}
[role='listbox'][data-empty='true']::after{content:'Aucun résultat';display:block;padding:.5rem 1rem;font-size:.875rem}
[data-testid='stFileUploaderFile'] small{display:none}
[data-testid='stElementToolbar']{display:none}
[data-testid='stElementContainer']:has(.field-anchor){height:0;margin-bottom:-1rem;scroll-margin-top:5rem}
</style>"""


# What Streamlit writes in tooltips, screen-reader labels and empty fields, said again in French by a
# script that watches the page (installed once per browser tab). The sweep of every screen
# (tests/e2e/test_screens.py) reads these attributes too.
FRENCH_LABELS = {
    "Collapse sidebar": "Replier le menu", "Expand sidebar": "Déplier le menu", "App pages": "Écrans",
    "Link to heading": "Lien vers ce titre", "Choose an option": "Choisir", "Choose options": "Choisir",
    "Choose date range": "Choisir les dates", "Choose a date": "Choisir une date", "Open": "Ouvrir",
    "Close": "Fermer", "Decrement": "Moins", "Increment": "Plus", "Clear all": "Tout effacer",
    "Clear": "Effacer", "Clear value": "Effacer", "No results": "Aucun résultat",
    "Show password": "Afficher le mot de passe", "Hide password": "Masquer le mot de passe",
    "Fullscreen": "Plein écran", "Close fullscreen": "Quitter le plein écran",
    "Download as CSV": "Télécharger", "Search": "Rechercher", "Show/hide columns": "Colonnes",
    "file upload": "Choisir un fichier", "Delete": "Supprimer", "Remove file": "Retirer le fichier",
    "Copy to clipboard": "Copier", "Send message": "Envoyer", "Your message": "Votre message",
    "Previous month": "Mois précédent", "Next month": "Mois suivant", "Running...": "En cours…",
}
FRENCH_PATTERNS = [(r"^Help for (.+)$", "Aide : $1"), (r"^(day|month|year), (.+)$", "$2"),
                   (r"^(.+) start date$", "$1 : début"), (r"^(.+) end date$", "$1 : fin"),
                   (r"^Remove (.+)$", "Retirer $1"), (r"^Selected (.+)$", "$1")]
FRENCH_SCRIPT = """
(() => {
  if (window.cnssFrench) return;
  window.cnssFrench = true;
  const words = %(words)s, patterns = %(patterns)s.map(([re, to]) => [new RegExp(re), to]);
  const say = v => {
    if (Object.prototype.hasOwnProperty.call(words, v)) return words[v];
    for (const [re, to] of patterns) if (re.test(v)) return say(v.replace(re, to));
    return v;
  };
  const fix = el => {
    for (const name of ['aria-label', 'title', 'placeholder']) {
      const v = el.getAttribute(name);
      if (v && say(v) !== v) el.setAttribute(name, say(v));
    }
  };
  const sweep = node => {
    if (node.nodeType !== 1) return;
    fix(node);
    node.querySelectorAll('[aria-label], [title], [placeholder]').forEach(fix);
  };
  sweep(document.body);
  const watch = c => c.type === 'attributes' ? fix(c.target) : c.addedNodes.forEach(sweep);
  new MutationObserver(changes => changes.forEach(watch)).observe(document.body, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label', 'title', 'placeholder']});
})();
"""
# The script as the page carries it: deploy/nginx/nginx.conf allows it by its hash (tests/test_deploy.py).
FRENCH_SCRIPT_BODY = FRENCH_SCRIPT % {"words": json.dumps(FRENCH_LABELS, ensure_ascii=False),
                                      "patterns": json.dumps(FRENCH_PATTERNS)}


def french_chrome() -> None:
    size = st.get_option("server.maxUploadSize")
    st.html(FRENCH_CHROME % {"size": f"{fmt.number(size)}{fmt.NNBSP}Mo"})
    st.html(f"<script>{FRENCH_SCRIPT_BODY}</script>", unsafe_allow_javascript=True)


def table(data: Any, **kwargs: Any) -> Any:
    """st.dataframe with every number written the reader's way (the browser's locale: 12 345,6 for
    French readers) rather than Streamlit's default of 12345.6; the caller's column settings win."""
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    config: dict[str, Any] = {str(c): st.column_config.NumberColumn(str(c), format="localized")
                              for c in frame.columns if frame[c].dtype.kind in "iuf"}
    config.update(kwargs.pop("column_config", None) or {})
    return st.dataframe(frame, column_config=config, **kwargs)


def sandbox_banner() -> None:
    if get_settings().sandbox:
        st.warning(
            "**Mode bac à sable** : aucun message réel n'est envoyé. Les envois et leurs statuts sont simulés.",
            icon=":material/science:",
        )


def require(page_key: str) -> tuple[CurrentUser, bool]:
    """Stop the page unless the signed-in user's role may open it; returns (user, can_edit)."""
    ensure_schema()
    user = current_user()
    spec = permissions.PAGES_BY_KEY[page_key]
    if user is None:
        # Normally app.py shows the sign-in screen first; this covers a page run on its own.
        st.error(st.session_state.get(FLASH_KEY) or "Veuillez vous connecter pour accéder à cet écran.")
        st.stop()
    account_box(user)
    if not spec.can_open(user.role):
        st.error("Accès refusé : votre rôle ne permet pas d'ouvrir cet écran.")
        st.stop()
    return user, spec.can_edit(user.role)


def account_box(user: CurrentUser) -> None:
    """Who is signed in, and the way out, at the bottom of the sidebar of every screen."""
    with st.sidebar:
        st.markdown(f"**{as_text(user.name)}**  \n{user.role_label}")
        if st.button("Se déconnecter", icon=":material/logout:", width="stretch", key="sign_out"):
            sign_out()
            st.rerun()


def header(page_key: str, intro: str, *, read_only: bool = False) -> None:
    spec = permissions.PAGES_BY_KEY[page_key]
    st.title(spec.title)
    st.caption(intro)
    sandbox_banner()
    if read_only:
        st.info("Consultation seule : votre rôle ne permet pas de modifier ces données.", icon=":material/visibility:")


def coming_soon(what: str) -> None:
    st.info(f"**Bientôt disponible.** {what}", icon=":material/construction:")


def show_send_result(item_id: int, what: str = "Le test", wait_seconds: float = 5.0) -> None:
    """What became of a message handed to the outbox: it is sent after the commit by a worker, so
    the screen waits a few seconds for the provider's answer, then says where it stands."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with db.session_scope() as session:
            item = outbox.get(session, item_id)
            status, state = (item.status, outbox.describe(item)) if item else ("failed", "introuvable")
        if status in ("sent", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if status == "sent":
        st.success(f"{what} est parti : Respond.io l'a accepté.")
    elif status == "failed":
        st.error(f"{what} n'est pas parti ({state}).")
    else:
        st.info(f"{what} est enregistré et {state} ; son état s'affiche dans « Derniers envois de test ».")


def recent_tests(template_id: int) -> None:
    """The template's last test sends and their state."""
    with db.session_scope() as session:
        rows = [{"Envoyé le": format_dt(i.created_at), "Numéro": i.phone, "État": outbox.describe(i)}
                for i in outbox.recent_tests(session, template_id)]
    if rows:
        st.caption("Derniers envois de test")
        table(rows, hide_index=True, width="stretch")


def guarded(function: Callable[..., None]) -> Callable[..., None]:
    """For a part of a screen that refreshes itself (a fragment runs outside app.py's error handler):
    an unforeseen failure shows the French message with a reference, not Streamlit's English box."""
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except Exception:  # noqa: BLE001 - st.rerun and st.stop are not Exceptions: they pass
            unexpected_error()

    return run


def unexpected_error() -> None:
    """A failure nobody foresaw: the person reads a French message with a reference, never a
    traceback or a query; the log has the detail under that reference (phones masked)."""
    reference = uuid.uuid4().hex[:8].upper()
    logging.getLogger("app").exception("Unexpected error on a screen (reference %s)", reference,
                                       extra={"reference": reference})
    st.error(f"Une erreur inattendue est survenue : l'action en cours n'a peut-être pas abouti. Réessayez ; si "
             f"cela se reproduit, donnez la référence **{reference}** à l'administrateur de l'application.",
             icon=":material/error:")
