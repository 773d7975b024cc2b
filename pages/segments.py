"""Segments: static lists and dynamic audiences."""

from pages import _shell

user, can_edit = _shell.require("segments")
_shell.header("segments", "Les listes de contacts et les audiences définies par des règles, utilisées pour cibler les campagnes.", read_only=not can_edit)
_shell.coming_soon("Création de segments statiques (listes) et dynamiques (règles sur les champs, attributs et comportements), avec un comptage en direct.")
