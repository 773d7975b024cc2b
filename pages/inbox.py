"""Agents' inbox."""

from pages import _shell

user, can_edit = _shell.require("inbox")
_shell.header("inbox", "Les conversations avec les assurés : celles qui attendent un agent d'abord, puis les plus récentes.", read_only=not can_edit)
_shell.coming_soon("Fil de chaque conversation (messages de la personne, réponses de l'assistant avec leurs sources, réponses des agents), réponse dans la fenêtre de 24 heures, prise en charge et clôture.")
