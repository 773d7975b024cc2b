"""Untrusted text for Markdown elements: shown as written, nothing rendered (the browser test,
tests/e2e/test_untrusted.py, checks what Chromium shows)."""

from __future__ import annotations

import re

import pytest

from core.text import as_text, one_line

HOSTILE = ["![x](http://evil.example/a.png)", "[ici](https://phishing.example)", "**gras** _it_ ~~barré~~",
           "<img src=x onerror=alert(1)>", "$x^2$ et $$\\int f$$", "# Titre", "1. liste", "> citation",
           "| a | b |", "`code`", "https://nu.example www.exemple.ga", "\\*déjà échappé\\*", "&lt;entité&gt;",
           "écrivez à fraude@exemple.ga", ":material/warning: :red[rouge] :smile: :100:",
           "a -> b <- c -- d", "===\n---\n+ plus\n2) deux"]


def test_bare_addresses_are_broken_by_an_invisible_joiner() -> None:
    shown = as_text("https://a.example www.b.ga c@d.ga")
    assert "https\u2060:\u2060//\u2060a" in shown and "\u2060www\u2060." in shown and "c\u2060@\u2060d" in shown


def test_plain_french_reads_the_same() -> None:
    message = "Erreur : le fichier « contacts (2).csv » n'a pas pu être lu, ligne 3. Réessayez !"
    assert as_text(message) == message
    assert as_text("Rendez-vous le 05/01 à 10:30, guichet 2") == "Rendez-vous le 05/01 à 10:30, guichet 2"


@pytest.mark.parametrize("text", HOSTILE)
def test_every_markdown_character_is_escaped_and_the_text_comes_back_as_written(text) -> None:  # noqa: ANN001
    shown = as_text(text)
    bare = re.sub(r"\\.", "", shown)  # what is left once the escaped characters are taken out
    # nothing inside a line starts Markdown (a colon before a letter or `100:` is followed by a joiner)
    assert not re.search(r"[\[\]*_~<>$|`&]|:(?!\u2060)(?:[^\s\d]|\d+:)", bare), bare
    assert not re.search(r"^[\u00a0]*(?:[#>+=\-]|\d+[.)])", shown, re.M), shown  # nor at its start
    typed = re.sub(r"\\(.)", r"\1", shown).replace("\u2060", "").replace("  \n", "\n")
    assert typed == text  # as typed (word joiners and hard line breaks aside)


def test_lines_control_characters_and_leading_blanks() -> None:
    assert as_text("un\r\ndeux\rtrois") == "un  \ndeux  \ntrois"  # each line break kept
    assert as_text("a\x00b\x1bc\x7f") == "abc"
    assert as_text("Awa \u202eenilorac\u202c \u2067x\u2069") == "Awa enilorac x"  # no letters shown reordered
    assert as_text("    indenté") == "\u00a0" * 4 + "indenté"  # not a code block
    assert as_text(None) == ""


@pytest.mark.parametrize("typed, kept", [
    ("Rappel\u200b  mars", "Rappel mars"),          # zero-width space
    ("\u2066Paiement\u2069 avril\u202e", "Paiement avril"),  # bidirectional isolates and override
    ("Cotisa\u00adtions", "Cotisations"),            # soft hyphen
    ("Cafe\u0301", "Café"),                          # composed as one letter
    ("a\tb\nc\x00", "a b c"),                         # blanks collapsed, controls removed
    ("\u200b\u200d\u2060\ufeff", ""),                # nothing visible: nothing
])
def test_a_name_keeps_only_what_can_be_read(typed, kept) -> None:  # noqa: ANN001
    assert one_line(typed) == kept
