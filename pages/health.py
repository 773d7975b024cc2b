"""System health."""

from pages import _shell

user, can_edit = _shell.require("health")
_shell.header("health", "L'état technique du service : base de données, file de tâches, fournisseur WhatsApp, webhooks.", read_only=not can_edit)
_shell.coming_soon("Vérifications de la base de données, de Redis, des workers, de la file d'attente, de Respond.io et du dernier webhook reçu.")
