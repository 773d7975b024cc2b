"""`python -m core ...`: the name users, docker-compose and the README know for the command line,
which lives above the domains in cli.py. The one place core names a module above it (the import
rules in tests/test_architecture.py allow exactly this alias)."""

from __future__ import annotations

import sys

from cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
