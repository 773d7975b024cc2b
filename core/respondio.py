"""The messaging provider: one interface, the Respond.io API v2 client, and a sandbox.

The client pools connections, times out, and retries 429 (honouring `Retry-After`), 5xx and
network errors with capped exponential backoff, as the official SDK does. Errors are typed as
transient or permanent and carry the HTTP status, Respond.io's error body and any WhatsApp error
code. The token is only ever in the Authorization header: never in a log line or an exception.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json as _json
import logging
import math
import random
import re
import ssl
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from core import labels, metrics
from core.config import Settings, get_settings
from core.logs import mask_phone

log = logging.getLogger(__name__)

# WhatsApp error codes and what a sender does about them (domain.md section 3).
TRANSIENT_CODES = frozenset({"130429", "131056"})
PERMANENT_CODES = frozenset({"131026", "131047", "470", "131049", "131050", "131051", "132012"})
TEMPLATE_CODES = frozenset({"132000", "132001"})
QUALITY_CODES = frozenset({"131048"})
UNVERIFIED = "unverified"  # a send the provider could neither confirm nor deny within the bound


def code_label(code: str | None) -> str:
    """An error code as the screens show it: WhatsApp's numbers as they are, ours in French."""
    if not code:
        return "—"
    if code.startswith("http_"):
        return f"HTTP {code[5:]}"
    return labels.OWN_ERROR_CODE.get(code, code)


USER_AGENT = "cnss-whatsapp/1 (httpx)"
QUEUED = 449  # "request queued, retry in a few minutes" (the official MCP server's reference)
QUEUED_RETRY_SECONDS = 120.0
_CODE_RE = re.compile(r"\b(13\d{4}|470)\b")


class ProviderError(Exception):
    """A failed provider call. `transient` says whether trying again later may succeed."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None,
                 whatsapp_code: str | None = None, transient: bool = False, retry_after: float | None = None,
                 maybe_sent: bool = False):
        super().__init__(message)
        self.maybe_sent = maybe_sent  # the provider may have accepted it: reconcile before sending again
        self.status = status
        self.body = body
        self.whatsapp_code = whatsapp_code
        self.transient = transient
        self.retry_after = retry_after

    @property
    def kind(self) -> str:
        if self.status in (401, 403):
            return "auth"  # the token is wrong or revoked: nothing will work until a person fixes it
        if self.whatsapp_code in TEMPLATE_CODES:
            return "template"
        if self.whatsapp_code in QUALITY_CODES:
            return "quality"
        return "transient" if self.transient else "permanent"

    @property
    def contact_unknown(self) -> bool:
        """Respond.io's `404 Contact not found`: the workspace has never seen this person, so nothing
        was ever accepted for them (on a send, the message was refused; on a lookup, there is no trace)."""
        if self.status != 404 or not isinstance(self.body, dict):
            return False  # a gateway's or a wrong route's 404 (HTML, text) says nothing about the contact
        return str(self.body.get("message") or "").strip().lower().rstrip(".") == "contact not found"


def whatsapp_code_of(body: Any) -> str | None:
    """The WhatsApp error code in an error body, wherever Respond.io put it."""
    if isinstance(body, dict):
        for key in ("whatsappErrorCode", "errorCode", "error_code"):
            if body.get(key) is not None:
                return str(body[key])
        error = body.get("error")
        if isinstance(error, dict) and error.get("code") is not None and str(error["code"]).startswith(("13", "47")):
            return str(error["code"])
        text = " ".join(str(body.get(k, "")) for k in ("message", "details"))
    else:
        text = str(body or "")
    match = _CODE_RE.search(text)
    return match.group(1) if match else None


@dataclass(frozen=True)
class MessageStatus:
    value: str  # pending | sent | delivered | read | failed
    timestamp: float | None = None
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class SentMessage:
    message_id: str
    statuses: list[MessageStatus] = field(default_factory=list)
    timestamp: float | None = None  # when the provider accepted it
    template: str | None = None  # the template's name, when the provider says
    body: tuple[str, ...] | None = None  # the template's body parameters, when the provider says
    kind: str | None = None  # text, whatsapp_template, attachment... when the provider says
    outgoing: bool = True  # False for a message the person sent
    text: str | None = None  # a text message's words, when the provider shows them


class Provider(Protocol):
    name: str

    def send_template(self, phone: str, name: str, language: str, components: list[dict[str, Any]]) -> str: ...
    def send_text(self, phone: str, text: str) -> str: ...
    def message_status(self, phone: str, message_id: str) -> list[MessageStatus]: ...
    def recent_messages(self, phone: str, limit: int = 20) -> list[SentMessage]: ...
    def upsert_contact(self, phone: str, fields: dict[str, Any]) -> None: ...
    def list_channels(self) -> list[dict[str, Any]]: ...
    def list_templates(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


def identifier(phone: str) -> str:
    if not re.match(r"^\+\d{8,15}$", phone):
        raise ProviderError("numéro E.164 attendu", transient=False)
    return f"phone:{phone}"


def _statuses(raw: Any) -> list[MessageStatus]:
    out = []
    for item in raw or []:
        if isinstance(item, dict) and item.get("value"):
            message = item.get("message")
            out.append(MessageStatus(str(item["value"]).lower(), item.get("timestamp"),
                                     whatsapp_code_of({"message": message}) if message else None, message))
    return out


def _seconds(value: Any) -> float | None:
    """Epoch seconds from seconds or milliseconds (the API's lists have used both)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number / 1000.0 if number > 1e12 else number


def _body_parameters(template: dict[str, Any]) -> tuple[str, ...] | None:
    for component in template.get("components") or []:
        if isinstance(component, dict) and component.get("type") == "body":
            return tuple(str(p.get("text")) for p in component.get("parameters") or [] if isinstance(p, dict))
    return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's verifying TLS context (certifi's store, SSL_CERT_FILE honoured), built once per process:
    building one reads the whole store (milliseconds of CPU), and clients are made per sender thread
    and per scheduler tick."""
    return httpx.create_ssl_context()


def _proxy_for(url: str) -> str | None:
    """The proxy the environment sets for this address (HTTPS_PROXY, ALL_PROXY, NO_PROXY...), as httpx's
    client would use it."""
    parsed = httpx.URL(url)
    if urllib.request.proxy_bypass(parsed.host):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parsed.scheme) or proxies.get("all")


class RespondIO:
    """Respond.io Developer API v2 over one httpx transport (a pool of kept-alive connections).

    Requests go to the transport directly rather than through `httpx.Client`: the API needs none of
    what the client adds (cookies, redirects, auth flows, event hooks), and under 32 sender threads
    that layer cost a quarter of the process's time per message (bench/campaign_dispatch.py prints
    both)."""

    name = "respondio"

    def __init__(self, token: str, *, base_url: str, channel_id: int | None, timeout: float = 30.0,
                 max_retries: int = 3, backoff_cap: float = 10.0, transport: httpx.BaseTransport | None = None,
                 sleep: Any = time.sleep) -> None:
        self.channel_id = channel_id
        self.max_retries = max_retries
        self.backoff_cap = backoff_cap
        self._sleep = sleep
        self.retries = 0  # counters for metrics
        self.rate_limited = 0
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                         "User-Agent": USER_AGENT}
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._transport = transport or httpx.HTTPTransport(
            verify=_tls_context(), proxy=_proxy_for(self._base_url),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50))

    def close(self) -> None:
        self._transport.close()

    # --- transport -------------------------------------------------------------------------

    def _exchange(self, method: str, path: str, json: Any = None,
                  params: dict[str, Any] | None = None) -> httpx.Response:
        headers = self._headers
        content = None
        if json is not None:
            content = _json.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            headers = {**headers, "Content-Type": "application/json"}
        request = httpx.Request(method, self._base_url + path, params=params, headers=headers, content=content,
                                extensions={"timeout": self._timeout})
        response = self._transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        response.request = request
        return response

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        attempt = 0
        operation = metrics.operation_of(method, path)
        while True:
            started = time.perf_counter()
            try:
                response = self._exchange(method, path, **kwargs)
            except httpx.TimeoutException as err:
                error = ProviderError(f"Respond.io n'a pas répondu à temps ({method})", transient=True,
                                      maybe_sent=not isinstance(err, httpx.ConnectTimeout))
                outcome = "timeout"
                log.warning("Respond.io timeout on %s %s (%s)", method, mask_phone(path), type(err).__name__)
            except httpx.TransportError as err:
                error = ProviderError(f"Respond.io injoignable ({type(err).__name__})", transient=True,
                                      maybe_sent=not isinstance(err, httpx.ConnectError))
                outcome = "network"
                log.warning("Respond.io network error on %s %s: %s", method, mask_phone(path), type(err).__name__)
            else:
                metrics.PROVIDER_SECONDS.labels(operation).observe(time.perf_counter() - started)
                metrics.PROVIDER_RESPONSES.labels(operation, str(response.status_code)).inc()
                if response.status_code < 400:
                    try:
                        return response.json() if response.content else {}
                    except ValueError:
                        log.warning("Respond.io answered %s with a body that is not JSON to %s %s",
                                    response.status_code, method, mask_phone(path))
                        raise ProviderError(f"Respond.io : réponse illisible ({method})", status=response.status_code,
                                            transient=True, maybe_sent=method == "POST") from None
                error = self._error(response, method, path)
                outcome = str(response.status_code)
            if outcome in ("timeout", "network"):
                metrics.PROVIDER_RESPONSES.labels(operation, outcome).inc()
            if not error.transient or attempt >= self.max_retries:
                raise error
            delay = error.retry_after if error.retry_after is not None else min(
                self.backoff_cap, 0.5 * 2 ** attempt * (1 + random.random() / 2))
            attempt += 1
            self.retries += 1
            metrics.PROVIDER_RETRIES.labels("429" if error.status == 429 else "5xx" if (error.status or 0) >= 500
                                            else outcome if outcome in ("timeout", "network") else "whatsapp").inc()
            log.info("Retrying %s %s in %.2f s (attempt %d of %d)", method, mask_phone(path), delay, attempt,
                     self.max_retries)
            self._sleep(min(delay, self.backoff_cap))

    def _error(self, response: httpx.Response, method: str, path: str) -> ProviderError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:500]
        status = response.status_code
        code = whatsapp_code_of(body)
        retry_after = None
        if status in (429, QUEUED):
            self.rate_limited += 1
            default = "1" if status == 429 else str(QUEUED_RETRY_SECONDS)
            try:
                retry_after = float(response.headers.get("Retry-After", default))
            except ValueError:
                retry_after = float(default)
            if not math.isfinite(retry_after) or retry_after < 0:  # nonsense from a proxy: the default
                retry_after = float(default)
        transient = status in (429, QUEUED) or status >= 500 or code in TRANSIENT_CODES
        text = body.get("message") if isinstance(body, dict) else str(body)
        log.warning("Respond.io answered %s to %s %s%s", status, method, mask_phone(path),
                    f" (WhatsApp {code})" if code else "")
        return ProviderError(f"Respond.io {status} : {text}", status=status, body=body, whatsapp_code=code,
                             transient=transient, retry_after=retry_after,
                             maybe_sent=(status >= 500 and status != 503) or status == QUEUED)

    # --- API -------------------------------------------------------------------------------

    def _send(self, phone: str, message: dict[str, Any]) -> str:
        payload: dict[str, Any] = {"message": message}
        if self.channel_id is not None:
            payload["channelId"] = self.channel_id
        data = self._request("POST", f"/contact/{identifier(phone)}/message", json=payload)
        if not isinstance(data, dict) or data.get("messageId") in (None, ""):
            # Accepted, as far as the status says, but without its id: looked up before any resend.
            raise ProviderError("Respond.io : réponse sans identifiant de message", status=200, transient=True,
                                maybe_sent=True)
        return str(data["messageId"])

    def send_template(self, phone: str, name: str, language: str, components: list[dict[str, Any]]) -> str:
        return self._send(phone, {"type": "whatsapp_template",
                                  "template": {"name": name, "languageCode": language, "components": components}})

    def send_text(self, phone: str, text: str) -> str:
        return self._send(phone, {"type": "text", "text": text})

    def message_status(self, phone: str, message_id: str) -> list[MessageStatus]:
        data = self._request("GET", f"/contact/{identifier(phone)}/message/{message_id}")
        return _statuses(data.get("status"))

    def recent_messages(self, phone: str, limit: int = 20) -> list[SentMessage]:
        """The person's latest messages, both ways, newest first (incoming ones marked as such). An
        answer of another shape is an error to ask again about, never an empty list: reconciliation
        would take that for "nothing was sent" and send again."""
        data = self._request("GET", f"/contact/{identifier(phone)}/message/list", params={"limit": limit})
        items = next((data[key] for key in ("items", "data", "messages")
                      if isinstance(data, dict) and isinstance(data.get(key), list)), None)
        if items is None:
            raise ProviderError("Respond.io : liste de messages d'une forme inattendue", status=200, transient=True)
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise ProviderError("Respond.io : élément de liste inattendu", status=200, transient=True)
            statuses = _statuses(item.get("status"))
            content: dict[str, Any] = item["message"] if isinstance(item.get("message"), dict) else {}
            template: dict[str, Any] = content["template"] if isinstance(content.get("template"), dict) else {}
            stamp = _seconds(item.get("timestamp")) or (statuses[0].timestamp if statuses else None)
            words = content.get("text") if content.get("type") == "text" else None
            out.append(SentMessage(str(item.get("messageId")), statuses, _seconds(stamp), template.get("name"),
                                   _body_parameters(template), str(content.get("type") or "") or None,
                                   str(item.get("traffic") or "outgoing") == "outgoing",
                                   words if isinstance(words, str) else None))
        return out

    def upsert_contact(self, phone: str, fields: dict[str, Any]) -> None:
        self._request("POST", f"/contact/create_or_update/{identifier(phone)}", json=fields)

    def list_channels(self) -> list[dict[str, Any]]:
        data = self._request("GET", "/space/channel")
        return list(data.get("items") or data.get("data") or (data if isinstance(data, list) else []))

    def list_templates(self) -> list[dict[str, Any]]:
        """The official SDK's endpoint first, the n8n node's if that one does not exist."""
        if self.channel_id is None:
            raise ProviderError("RESPONDIO_CHANNEL_ID n'est pas configuré.")
        for suffix in ("template", "mtm"):
            try:
                data = self._request("GET", f"/space/channel/{self.channel_id}/{suffix}")
            except ProviderError as err:
                if err.status == 404 and suffix == "template":
                    continue
                raise
            items = data.get("items") or data.get("data") or (data if isinstance(data, list) else [])
            return list(items)
        return []


# --- sandbox -----------------------------------------------------------------------------------

# Outcome shares of a template sent in the sandbox, and the WhatsApp codes of its failures.
SANDBOX_OUTCOMES = (("read", 0.62), ("delivered", 0.26), ("failed", 0.12))
SANDBOX_FAILURES = (("131026", 0.6), ("131049", 0.15), ("131050", 0.15), ("131051", 0.1))


class Sandbox:
    """Accepts every well-formed message and, over the next seconds, lets it be delivered, read or fail
    with realistic shares and real WhatsApp codes. Outcomes derive from the message id and the time
    elapsed, so any process can ask for a status: nothing here is process-local but `recent_messages`."""

    name = "sandbox"

    def __init__(self, *, delivery_seconds: float = 2.0, read_seconds: float = 6.0) -> None:
        self.delivery_seconds = delivery_seconds
        self.read_seconds = read_seconds
        self._lock = threading.Lock()
        self._counter = 0
        self._recent: dict[str, deque[tuple[str, str | None]]] = {}

    def _new_id(self, phone: str, template: str | None) -> str:
        with self._lock:
            self._counter = (self._counter + 1) % 1000
            message_id = f"{int(time.time() * 1000)}{self._counter:03d}"
            self._recent.setdefault(phone, deque(maxlen=50)).appendleft((message_id, template))
        return message_id

    def send_template(self, phone: str, name: str, language: str, components: list[dict[str, Any]]) -> str:
        identifier(phone)
        return self._new_id(phone, name)

    def send_text(self, phone: str, text: str) -> str:
        identifier(phone)
        if not text.strip():
            raise ProviderError("Message vide.", status=400)
        return self._new_id(phone, None)

    @staticmethod
    def _pick(pairs: tuple[tuple[str, float], ...], roll: float) -> str:
        total = 0.0
        for value, share in pairs:
            total += share
            if roll < total:
                return value
        return pairs[-1][0]

    def message_status(self, phone: str, message_id: str, *, now: float | None = None) -> list[MessageStatus]:
        digest = hashlib.sha256(message_id.encode()).digest()
        outcome = self._pick(SANDBOX_OUTCOMES, digest[0] / 256)
        sent_at = int(message_id[:-3]) / 1000 if message_id[:-3].isdigit() else time.time()
        elapsed = (now or time.time()) - sent_at
        delay = 0.2 + self.delivery_seconds * (digest[1] / 256)
        statuses = [MessageStatus("sent", sent_at)]
        if elapsed < delay:
            return statuses
        if outcome == "failed":
            code = self._pick(SANDBOX_FAILURES, digest[2] / 256)
            return [*statuses, MessageStatus("failed", sent_at + delay, code, labels.WHATSAPP_ERROR.get(code))]
        statuses.append(MessageStatus("delivered", sent_at + delay))
        read_delay = delay + self.read_seconds * (digest[3] / 256)
        if outcome == "read" and elapsed >= read_delay:
            statuses.append(MessageStatus("read", sent_at + read_delay))
        return statuses

    def recent_messages(self, phone: str, limit: int = 20) -> list[SentMessage]:
        with self._lock:
            recent = list(self._recent.get(phone, ()))[:limit]
        return [SentMessage(i, self.message_status(phone, i), int(i[:-3]) / 1000, name) for i, name in recent]

    def upsert_contact(self, phone: str, fields: dict[str, Any]) -> None:
        identifier(phone)

    def list_channels(self) -> list[dict[str, Any]]:
        return [{"id": 0, "name": "WhatsApp (bac à sable)", "source": "whatsapp_cloud"}]

    def list_templates(self) -> list[dict[str, Any]]:
        return []

    def close(self) -> None:
        pass


_sandbox: Sandbox | None = None


@contextlib.contextmanager
def opened(settings: Settings | None = None, *, max_retries: int = 3) -> Iterator[Provider]:
    """The configured provider for the length of a block: a Respond.io client (its connections) is
    closed at the end, the sandbox (one per process, shared) is not."""
    client = provider(settings, max_retries=max_retries)
    try:
        yield client
    finally:
        if client.name != "sandbox":
            client.close()


def provider(settings: Settings | None = None, *, max_retries: int = 3) -> Provider:
    """Respond.io when a token is configured, otherwise the (shared) sandbox."""
    global _sandbox
    settings = settings or get_settings()
    if settings.respondio_api_token is None:
        if _sandbox is None:
            _sandbox = Sandbox()
        return _sandbox
    return RespondIO(settings.respondio_api_token.get_secret_value(), base_url=settings.respondio_base_url,
                     channel_id=settings.respondio_channel_id, timeout=settings.respondio_timeout_seconds,
                     max_retries=max_retries)
