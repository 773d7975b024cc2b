"""Campaigns."""

from pages import _shell

user, can_edit = _shell.require("campaigns")
_shell.header("campaigns", "Les envois de masse : annonces, dates de paiement, rappels, avec programmation, cadence et suivi en direct.", read_only=not can_edit)
_shell.coming_soon("Assistant de création (audience, modèle, programmation, heures calmes, cadence, coût estimé), lancement, pause, reprise, annulation et suivi destinataire par destinataire.")
