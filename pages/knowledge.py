"""Knowledge base."""

from pages import _shell

user, can_edit = _shell.require("knowledge")
_shell.header("knowledge", "Les documents de la CNSS sur lesquels l'assistant virtuel fonde ses réponses.", read_only=not can_edit)
_shell.coming_soon("Dépôt de documents (PDF, Word, texte, HTML), découpage en passages, réindexation, activation et désactivation.")
