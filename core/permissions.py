"""Which role may open which screen. The app builds its navigation from this table and every
page checks it again, so a screen a role may not open cannot be reached, not even by URL."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Role


@dataclass(frozen=True)
class PageSpec:
    key: str
    file: str
    title: str
    icon: str
    section: str
    roles: frozenset[str]
    read_only_roles: frozenset[str] = frozenset()

    def can_open(self, role: str) -> bool:
        return role in self.roles or role in self.read_only_roles

    def can_edit(self, role: str) -> bool:
        return role in self.roles


_ALL = frozenset(Role)
_A, _M, _S, _G = Role.ADMIN, Role.MANAGER, Role.SUPERVISOR, Role.AGENT

PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "pages/home.py", "Accueil", ":material/home:", "Général", _ALL),
    PageSpec("contacts", "pages/contacts.py", "Contacts", ":material/contacts:", "Audience",
             frozenset({_A, _M}), frozenset({_S})),
    PageSpec("segments", "pages/segments.py", "Segments", ":material/group_work:", "Audience",
             frozenset({_A, _M}), frozenset({_S})),
    PageSpec("templates", "pages/templates.py", "Modèles WhatsApp", ":material/description:", "Messages",
             frozenset({_A, _M}), frozenset({_S})),
    PageSpec("campaigns", "pages/campaigns.py", "Campagnes", ":material/campaign:", "Messages",
             frozenset({_A, _M}), frozenset({_S})),
    PageSpec("analytics", "pages/analytics.py", "Statistiques", ":material/monitoring:", "Suivi",
             frozenset({_A, _M, _S})),
    PageSpec("inbox", "pages/inbox.py", "Conversations", ":material/forum:", "Échanges",
             frozenset({_A, _M, _G}), frozenset({_S})),  # supervisors: every agent's load, read-only
    PageSpec("chatbot", "pages/chatbot.py", "Assistant virtuel", ":material/smart_toy:", "Échanges",
             frozenset({_A, _M, _G})),
    PageSpec("knowledge", "pages/knowledge.py", "Base de connaissances", ":material/menu_book:", "Échanges",
             frozenset({_A, _M})),
    PageSpec("users", "pages/users.py", "Utilisateurs et audit", ":material/manage_accounts:", "Administration",
             frozenset({_A})),
    PageSpec("health", "pages/health.py", "État du système", ":material/health_and_safety:", "Administration",
             frozenset({_A})),
    PageSpec("settings", "pages/settings.py", "Paramètres", ":material/settings:", "Administration",
             frozenset({_A})),
)

PAGES_BY_KEY: dict[str, PageSpec] = {p.key: p for p in PAGES}


def pages_for(role: str) -> list[PageSpec]:
    return [p for p in PAGES if p.can_open(role)]


def can_open(role: str, page_key: str) -> bool:
    spec = PAGES_BY_KEY.get(page_key)
    return spec is not None and spec.can_open(role)
