"""Chatbot playground."""

from pages import _shell

user, can_edit = _shell.require("chatbot")
_shell.header("chatbot", "L'assistant virtuel qui répond aux questions à partir des documents de la CNSS : testez-le avant de lui faire confiance.", read_only=not can_edit)
_shell.coming_soon("Discussion avec l'assistant, sources citées pour chaque réponse, avis des agents et évaluation sur un jeu de questions.")
