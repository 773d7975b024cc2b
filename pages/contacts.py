"""Contacts: import, search, consent."""

from pages import _shell

user, can_edit = _shell.require("contacts")
_shell.header("contacts", "Les assurés, pensionnés et employeurs que la CNSS peut joindre sur WhatsApp, avec leur consentement.", read_only=not can_edit)
_shell.coming_soon("Import de fichiers CSV ou Excel avec normalisation des numéros gabonais, recherche, fiche contact, historique du consentement, export et effacement sur demande.")
