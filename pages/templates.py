"""WhatsApp templates."""

from pages import _shell

user, can_edit = _shell.require("templates")
_shell.header("templates", "Les modèles de messages WhatsApp approuvés par Meta, seuls autorisés pour écrire en premier à une personne.", read_only=not can_edit)
_shell.coming_soon("Création et vérification des modèles selon les règles WhatsApp, aperçu en bulle, correspondance des variables, synchronisation avec Respond.io.")
