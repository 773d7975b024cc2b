"""WhatsApp message templates: WhatsApp's rules, variable mapping, rendering, import/export, sync.

Variables are positional per component, as WhatsApp defines them: the body's `{{1}}..{{n}}`, at
most one `{{1}}` in a text header, and one `{{1}}` at the end of a URL button. The mapping keys are
the body's variable numbers (`"1"`, `"2"`...), `"header"` for the header's variable and
`"button_<index>"` for a URL button's suffix.

The package, by concern: `rules` (WhatsApp's rules, one function per part, and the template as
data), `rendering` (a template filled for one person), `service` (stored, imported, exported,
tested) and `sync` (brought from the provider). Callers use the names below."""

from __future__ import annotations

from core.templates.rendering import Rendered, contact_values, fill, provider_components, render, resolve
from core.templates.rules import (
    BUTTON_TYPES,
    CONTENT_FIELDS,
    FIELDS,
    HEADER_FORMATS,
    SOURCES,
    Problems,
    as_dict,
    clean,
    guess_mapping,
    key_label,
    status_problem,
    validate,
    validate_mapping,
    variable_keys,
    variables,
)
from core.templates.service import (
    ImportReport,
    TemplateInvalid,
    approved,
    check,
    delete,
    export_json,
    get,
    import_json,
    list_all,
    names,
    prepare,
    save,
)
from core.templates.sync import SyncReport, from_provider, sync

__all__ = [
    "BUTTON_TYPES", "CONTENT_FIELDS", "FIELDS", "HEADER_FORMATS", "SOURCES", "ImportReport",
    "Problems", "Rendered", "SyncReport", "TemplateInvalid", "approved", "as_dict", "check", "clean",
    "contact_values", "delete", "export_json", "fill", "from_provider", "get", "guess_mapping", "import_json",
    "key_label", "status_problem",
    "list_all", "names", "prepare", "provider_components", "render", "resolve", "save", "sync", "validate",
    "validate_mapping", "variable_keys", "variables",
]
