"""Settings: every one documented in .env.example, defaults that need no server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def documented() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z][A-Z0-9_]*=", line))


# Read by docker-compose.yml, not by the code.
COMPOSE_ONLY = {"POSTGRES_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "SITE_HOST"}


def test_every_setting_is_documented_and_nothing_else() -> None:
    assert set(documented()) - COMPOSE_ONLY == {name.upper() for name in Settings.model_fields}
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert all(text.index(name) > text.index("docker-compose only") for name in COMPOSE_ONLY)


def test_documented_defaults_are_the_real_defaults(monkeypatch) -> None:  # noqa: ANN001
    for name, value in documented().items():
        monkeypatch.setenv(name, value)
    from_file = Settings()
    for name in documented():
        monkeypatch.delenv(name)
    monkeypatch.delenv("WORKER_METRICS_PORT", raising=False)  # the test session turns it off
    defaults = Settings()
    for field in Settings.model_fields:
        if field in {"database_url", "data_dir"}:
            continue  # empty means "the file under data/", a path that depends on the checkout
        assert getattr(from_file, field) == getattr(defaults, field), field


def test_embedded_defaults(monkeypatch) -> None:  # noqa: ANN001
    s = Settings()
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith("data/cnss.db")
    assert s.redis_url is None and s.sandbox and s.openai_api_key is None
    monkeypatch.setenv("RESPONDIO_WEBHOOK_SECRETS", " k1, ,k2 ")
    assert Settings().webhook_secrets == ["k1", "k2"]


def test_secrets_do_not_leak_through_repr(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("RESPONDIO_API_TOKEN", "tok-123-xyzzy")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-456-xyzzy")
    s = Settings()
    assert "xyzzy" not in repr(s) and "xyzzy" not in str(s.model_dump())
    assert not s.sandbox


def test_bad_values_are_refused(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings()
