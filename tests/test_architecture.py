"""The house's import rules (../shared/docs/architecture.md), read from the source: one way down
(the command line, pages and workers over rag over core; core imports none of them nor Streamlit;
rag uses core's configuration and database only; screens import no SQLAlchemy), no cycle between
modules (counting the imports made inside functions), and imports at the top of a module unless a
comment on the line, or just above it, says why."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("app", "cli", "pages", "workers", "rag", "core")
# What each layer may import among the others (itself always).
MAY_IMPORT = {
    "app": {"pages", "core"},
    "cli": {"workers", "rag", "core"},
    "pages": {"rag", "core"},
    "workers": {"rag", "core"},
    "rag": {"core"},
    "core": set(),
}
NEVER = {"core": {"streamlit"}, "rag": {"streamlit"}, "workers": {"streamlit"}, "pages": {"sqlalchemy"}}
# rag reaches core for its configuration and the database, and the few leaf helpers every layer
# shares (errors, times, text, logs, the audit entry, the zip check): never a domain module.
RAG_MAY_USE = {"core.config", "core.db", "core.models", "core.errors", "core.timeutil", "core.text", "core.logs",
               "core.audit", "core.archives", "core.queue", "core.fmt"}  # queue: evaluation job; fmt: numbers
# `python -m core` is the command line's old name, kept for users: the one import of a layer above.
ALIASES = {("core.__main__", "cli")}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (the longest that exists among ours, else as written)
    line: int
    at_top: bool
    reason: bool  # a comment on the line or the one above


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    files = [ROOT / "app.py", ROOT / "cli.py", *[p for layer in LAYERS[2:] for p in (ROOT / layer).rglob("*.py")]]
    # Not the product: generated migrations, and the evaluation corpora's one-off generators.
    return {module_name(p): p for p in files if p.exists() and "migrations" not in p.parts and "_build" not in p.parts}


MODULES = sources()


def resolve(name: str) -> str:
    while name and name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = ast.parse(text)
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as the top
        if isinstance(node, ast.If):
            top_level |= {id(n) for n in node.body}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:  # relative: from the module's package
            base = module.rsplit(".", node.level - (1 if path.name == "__init__.py" else 0))[0]
            names = [f"{base}.{node.module}" if node.module else base]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = [a.name for a in node.names]
        if isinstance(node, ast.ImportFrom):  # `from core import db`: the module core.db
            names = [f"{names[0]}.{a.name}" if f"{names[0]}.{a.name}" in MODULES else names[0] for a in node.names]
        reason = "#" in lines[node.lineno - 1] or lines[node.lineno - 2].strip().startswith("#")
        found += [Import(module, resolve(n), node.lineno, id(node) in top_level, reason) for n in names]
    return found


ALL = [i for m in MODULES for i in imports_of(m)]


def layer(module: str) -> str:
    return module.split(".")[0]


def test_imports_flow_one_way() -> None:
    wrong = []
    for i in ALL:
        src, dst = layer(i.source), layer(i.target)
        if (i.source, i.target) in ALIASES:
            continue
        if dst in LAYERS and dst != src and dst not in MAY_IMPORT[src]:
            wrong.append(f"{i.source}:{i.line} imports {i.target}")
        if dst in NEVER.get(src, set()):
            wrong.append(f"{i.source}:{i.line} imports {i.target}")
        if src == "rag" and dst == "core" and i.target not in RAG_MAY_USE:
            wrong.append(f"{i.source}:{i.line} imports {i.target} (rag uses core's configuration and database only)")
    assert wrong == []


def test_no_cycle_between_modules() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL:
        if i.target in MODULES and i.target != i.source and (i.source, i.target) not in ALIASES:
            graph[i.source].add(i.target)
    # A package's __init__ importing its own modules is not a cycle with them.
    for m in MODULES:
        graph[m] = {t for t in graph[m] if not t.startswith(m + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []


def test_imports_are_at_the_top_unless_a_comment_says_why() -> None:
    unexplained = [f"{i.source}:{i.line} {i.target}" for i in ALL if not i.at_top and not i.reason]
    assert unexplained == []


def test_the_rules_see_what_they_check() -> None:
    """The reader finds the known imports (so that an empty list above means something)."""
    assert any(i.source == "pages.contacts" and i.target == "core.contacts.importer" for i in ALL) or \
        any(i.source == "pages.contacts" and i.target.startswith("core") for i in ALL)
    assert any(not i.at_top for i in ALL)  # some imports are inside functions, with their reason
    assert len(MODULES) > 60


def test_every_audited_action_has_a_french_label() -> None:
    """The audit screen shows `labels.AUDIT_ACTION`; an action missing there would show its code."""
    import re

    from core import labels

    recorded = set()
    for path in (ROOT / "core").rglob("*.py"):
        recorded |= set(re.findall(r'audit\.record\(\s*session,\s*"([a-z_]+)"', path.read_text(encoding="utf-8")))
    assert len(recorded) > 30
    assert sorted(recorded - set(labels.AUDIT_ACTION)) == []
