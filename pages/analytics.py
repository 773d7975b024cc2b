"""Analytics."""

from pages import _shell

user, can_edit = _shell.require("analytics")
_shell.header("analytics", "Les chiffres de remise, de lecture et de réponse des messages, et l'activité de l'assistant virtuel.", read_only=not can_edit)
_shell.coming_soon("Indicateurs clés, entonnoir envoyé → remis → lu → répondu, délais, échecs par code d'erreur WhatsApp, répartitions par segment et par modèle, exports CSV et Excel.")
