"""Contacts: import, search, consent, export, erasure."""
