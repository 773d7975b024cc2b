"""A fake Respond.io API v2 server: a real HTTP server on loopback, for tests and benchmarks.

It implements the subset the product uses as the documentation describes it: bearer-token auth,
request validation (E.164 identifier, channel, template name and parameter count), `{"messageId"}`
answers, message status and list, contact get and upsert, channels and templates (under either
documented path), 429 with `Retry-After` and `X-RateLimit-*` headers above a configurable rate per
API method, and injectable failures: 5xx, timeouts, slow answers, and sends accepted whose answer is
lost (a 502 after the message was recorded).

Like the real API, it knows nothing of a contact the workspace has never seen: the message list,
a message's status and the contact itself answer `404 {"code": 404, "message": "Contact not found"}`.
Whether a send to such a phone creates the contact or is refused with that 404 is not documented:
`unknown_contact_send` chooses ("create" or "refuse"). Every accepted message is recorded for the
tests to query.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

IDENTIFIER_RE = re.compile(r"^phone:\+\d{8,15}$")


@dataclass
class Accepted:
    message_id: int
    identifier: str
    channel_id: int | None
    message: dict[str, Any]
    at: float
    outcome: str = "delivered"  # what the status endpoint will report after `delivery_delay`
    error_code: str | None = None


@dataclass
class FakeRespondIO:
    token: str = "test-token-not-a-secret"
    channel_id: int = 4242
    templates: dict[str, int] = field(default_factory=dict)  # name -> body parameter count; empty: any
    template_endpoint: str = "template"  # "template" (official SDK) or "mtm" (n8n node)
    template_list: list[dict[str, Any]] = field(default_factory=list)
    rate_limit: float | None = None  # accepted sends per second; above it: 429
    error_rate: float = 0.0  # share of sends answered 500
    latency: float = 0.0  # seconds added to every answer
    delivery_delay: float = 0.0
    undeliverable: set[str] = field(default_factory=set)  # phones whose messages fail with 131026
    lost_answer_rate: float = 0.0  # share of sends accepted (recorded) but answered 502
    unknown_contact_send: str = "create"  # "create": a send creates the contact; "refuse": 404 Contact not found
    forget_creations: bool = False  # create_or_update answers 200 but the phone stays unknown (normalised away)
    method_limits: dict[str, float] = field(default_factory=dict)  # requests/s per method: send, list, status, contact
    seed: int = 241

    def __post_init__(self) -> None:
        self.accepted: list[Accepted] = []
        self.by_identifier: dict[str, list[Accepted]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}  # identifier -> fields, for every contact the workspace knows
        self.by_id: dict[str, Accepted] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self._ids = itertools.count(1_000_001)
        self._windows: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._scripted: deque[tuple[int, dict[str, Any], float]] = deque()  # status, body, delay
        self.timeouts_next = 0
        self.timeout_seconds = 5.0
        self.server: Any = None
        self.base_url = ""

    # --- scripting -------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500, body: Any = None, retry_after: float | None = None,
                  raw: str | None = None) -> None:
        """The next `count` requests get this answer instead of being served: a JSON `body` (any JSON
        value), or `raw` text (an HTML page from a gateway, say)."""
        payload = body if body is not None else {"code": status,
                                                 "message": "Internal server error" if status >= 500 else "Error"}
        if raw is not None:
            payload = {"_raw": raw}
        if retry_after is not None:
            payload = {**payload, "_retry_after": retry_after}
        for _ in range(count):
            self._scripted.append((status, payload, 0.0))

    def messages_to(self, phone: str) -> list[Accepted]:
        return list(self.by_identifier.get(f"phone:{phone}", []))

    def knows(self, phone: str, **fields: Any) -> None:
        """The workspace knows this person (they wrote once, or were created elsewhere)."""
        self.contacts.setdefault(f"phone:{phone}", {"phone": phone, **fields})

    def count(self, operation: str) -> int:
        """Requests received for one API method (send, list, status, contact, template)."""
        return sum(1 for method, path, _ in list(self.requests) if _operation(method, path) == operation)

    # --- server ----------------------------------------------------------------------------

    def start(self) -> str:
        from tests.support.servers import ThreadedServer

        self.server = ThreadedServer(self.app(), lifespan="off", name="fake-respondio").start()
        self.base_url = f"{self.server.base}/v2"
        return self.base_url

    def stop(self) -> None:
        if self.server:
            self.server.stop()

    def __enter__(self) -> FakeRespondIO:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- handlers --------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/v2/contact/{identifier}/message", self.send, methods=["POST"]),
            Route("/v2/contact/{identifier}/message/list", self.list_messages, methods=["GET"]),
            Route("/v2/contact/{identifier}/message/{message_id}", self.status, methods=["GET"]),
            Route("/v2/contact/create_or_update/{identifier}", self.upsert_contact, methods=["POST"]),
            Route("/v2/contact/{identifier}", self.get_contact, methods=["GET"]),
            Route("/v2/space/channel", self.channels, methods=["GET"]),
            Route("/v2/space/channel/{channel_id}/{kind}", self.list_templates, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    async def _gate(self, request: Request) -> Response | None:
        """Auth, scripted failures, timeouts and latency, common to every endpoint."""
        self.requests.append((request.method, request.url.path, dict(request.headers)))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.timeouts_next > 0:
            self.timeouts_next -= 1
            await asyncio.sleep(self.timeout_seconds)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"code": 401, "message": "Unauthorized"}, status_code=401)
        if self._scripted:
            status, body, _ = self._scripted.popleft()
            headers = {}
            if isinstance(body, dict) and "_retry_after" in body:
                body = dict(body)
                headers["Retry-After"] = str(body.pop("_retry_after"))
            if isinstance(body, dict) and "_raw" in body:
                return Response(body["_raw"], status_code=status, headers=headers, media_type="text/html")
            return JSONResponse(body, status_code=status, headers=headers)
        return None

    def _rate_limited(self, operation: str = "send") -> JSONResponse | None:
        """429 over the method's limit (`rate_limit` is the send method's), with the headers the
        real API sends."""
        limit = self.rate_limit if operation == "send" and self.rate_limit is not None \
            else self.method_limits.get(operation)
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(operation, deque())
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                retry = max(0.05, 1.0 - (now - window[0]))
                return JSONResponse({"code": 429, "message": "Too many requests"}, status_code=429, headers={
                    "Retry-After": f"{retry:.2f}", "X-RateLimit-Limit": str(int(limit)),
                    "X-RateLimit-Remaining": "0"})
            window.append(now)
        return None

    def _unknown(self, identifier: str) -> JSONResponse | None:
        if identifier in self.contacts:
            return None
        return JSONResponse({"code": 404, "message": "Contact not found"}, status_code=404)

    async def send(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        identifier = request.path_params["identifier"]
        if not IDENTIFIER_RE.match(identifier):
            return JSONResponse({"code": 400, "message": f"Invalid contact identifier: {identifier}"}, status_code=400)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"code": 400, "message": "Body is not JSON"}, status_code=400)
        message = body.get("message") if isinstance(body, dict) else None
        channel = body.get("channelId") if isinstance(body, dict) else None
        if not isinstance(message, dict) or message.get("type") not in ("text", "whatsapp_template"):
            return JSONResponse({"code": 400, "message": "message.type must be text or whatsapp_template"},
                                status_code=400)
        if channel is not None and channel != self.channel_id:
            return JSONResponse({"code": 400, "message": f"Channel {channel} not found"}, status_code=400)
        if message["type"] == "text" and not str(message.get("text") or "").strip():
            return JSONResponse({"code": 400, "message": "message.text is required"}, status_code=400)
        if message["type"] == "whatsapp_template":
            problem = self._check_template(message.get("template"))
            if problem:
                return JSONResponse({"code": 400, "message": problem}, status_code=400)
        if (limited := self._rate_limited("send")) is not None:
            return limited
        if self.error_rate and self._rng.random() < self.error_rate:
            return JSONResponse({"code": 500, "message": "Internal server error"}, status_code=500)
        phone = identifier.split(":", 1)[1]
        if identifier not in self.contacts:
            if self.unknown_contact_send == "refuse":
                return JSONResponse({"code": 404, "message": "Contact not found"}, status_code=404)
            self.contacts[identifier] = {"phone": phone}
        accepted = Accepted(next(self._ids), identifier, channel, message, time.time())
        if phone in self.undeliverable:
            accepted.outcome, accepted.error_code = "failed", "131026"
        with self._lock:
            self.accepted.append(accepted)
            self.by_identifier.setdefault(identifier, []).append(accepted)
            self.by_id[str(accepted.message_id)] = accepted
        if self.lost_answer_rate and self._rng.random() < self.lost_answer_rate:
            # Accepted, but the answer is lost on its way back (a proxy's 502).
            return JSONResponse({"code": 502, "message": "Bad gateway"}, status_code=502)
        return JSONResponse({"contactId": abs(hash(identifier)) % 10_000_000, "messageId": accepted.message_id})

    def _check_template(self, template: Any) -> str | None:
        if not isinstance(template, dict) or not template.get("name") or not template.get("languageCode"):
            return "template.name and template.languageCode are required"
        if self.templates:
            expected = self.templates.get(template["name"])
            if expected is None:
                return "(#132001) Template name does not exist in the translation"
            body = next((c for c in template.get("components") or [] if c.get("type") == "body"), {})
            if len(body.get("parameters") or []) != expected:
                return "(#132000) Number of parameters does not match the expected number of params"
        return None

    def _status_of(self, message: Accepted) -> list[dict[str, Any]]:
        statuses = [{"value": "sent", "timestamp": int(message.at), "message": ""}]
        if time.time() - message.at >= self.delivery_delay:
            if message.outcome == "failed":
                statuses.append({"value": "failed", "timestamp": int(message.at) + 1,
                                 "message": f"({message.error_code}) Message undeliverable"})
            else:
                statuses.append({"value": "delivered", "timestamp": int(message.at) + 1, "message": ""})
        return statuses

    async def status(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        if (limited := self._rate_limited("status")) is not None:
            return limited
        if (unknown := self._unknown(request.path_params["identifier"])) is not None:
            return unknown
        message = self.by_id.get(request.path_params["message_id"])
        if message is not None and message.identifier == request.path_params["identifier"]:
            return JSONResponse({"messageId": message.message_id, "status": self._status_of(message)})
        return JSONResponse({"code": 404, "message": "Message not found"}, status_code=404)

    async def list_messages(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        if (limited := self._rate_limited("list")) is not None:
            return limited
        limit = int(request.query_params.get("limit", "10"))
        if not 1 <= limit <= 100:
            return JSONResponse({"code": 400, "message": "limit must be between 1 and 100"}, status_code=400)
        if (unknown := self._unknown(request.path_params["identifier"])) is not None:
            return unknown
        mine = list(reversed(self.by_identifier.get(request.path_params["identifier"], [])))[:limit]
        return JSONResponse({"items": [{"messageId": m.message_id, "traffic": "outgoing", "message": m.message,
                                        "timestamp": m.at, "status": self._status_of(m)} for m in mine],
                             "pagination": {"next": None}})

    async def upsert_contact(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        if (limited := self._rate_limited("contact")) is not None:
            return limited
        identifier = request.path_params["identifier"]
        if not IDENTIFIER_RE.match(identifier):
            return JSONResponse({"code": 400, "message": "Invalid contact identifier"}, status_code=400)
        try:
            fields = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"code": 400, "message": "Body is not JSON"}, status_code=400)
        if not isinstance(fields, dict):
            return JSONResponse({"code": 400, "message": "Body must be an object"}, status_code=400)
        if identifier not in self.contacts and not str(fields.get("firstName") or "").strip():
            return JSONResponse({"code": 400, "message": "firstName is required"}, status_code=400)
        if not self.forget_creations:
            self.contacts[identifier] = {**self.contacts.get(identifier, {}), **fields}
        return JSONResponse({"contactId": abs(hash(identifier)) % 10_000_000})

    async def get_contact(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        if (limited := self._rate_limited("contact")) is not None:
            return limited
        identifier = request.path_params["identifier"]
        if (unknown := self._unknown(identifier)) is not None:
            return unknown
        return JSONResponse({"id": abs(hash(identifier)) % 10_000_000, **self.contacts[identifier]})

    async def channels(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        return JSONResponse({"items": [{"id": self.channel_id, "name": "CNSS WhatsApp", "source": "whatsapp_cloud"}]})

    async def list_templates(self, request: Request) -> JSONResponse:
        if (denied := await self._gate(request)) is not None:
            return denied
        if request.path_params["kind"] != self.template_endpoint or \
                request.path_params["channel_id"] != str(self.channel_id):
            return JSONResponse({"code": 404, "message": "Not found"}, status_code=404)
        return JSONResponse({"items": self.template_list})


def _operation(method: str, path: str) -> str:
    from core.metrics import operation_of

    return operation_of(method, path.removeprefix("/v2"))


def _serve() -> None:
    """`python -m tests.support.fake_respondio --port P [--latency S]`: the fake in its own process
    (benchmarks), with `GET /_fake/accepted` listing the accepted messages' times and numbers,
    `GET /_fake/requests` the requests received per API method, and `POST /_fake/configure` setting
    its faults (error_rate, lost_answer_rate, rate_limit, method_limits, unknown_contact_send)."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--token", default="bench-token")
    parser.add_argument("--channel", type=int, default=4242)
    args = parser.parse_args()
    fake = FakeRespondIO(token=args.token, channel_id=args.channel, latency=args.latency)
    faults = ("error_rate", "lost_answer_rate", "rate_limit", "method_limits", "unknown_contact_send")

    async def accepted(request: Request) -> JSONResponse:
        return JSONResponse({"count": len(fake.accepted), "at": [m.at for m in fake.accepted],
                             "identifiers": [m.identifier for m in fake.accepted]})

    async def requests(request: Request) -> JSONResponse:
        counts: dict[str, int] = {}
        for method, path, _ in list(fake.requests):
            key = _operation(method, path)
            counts[key] = counts.get(key, 0) + 1
        return JSONResponse(counts)

    async def configure(request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        for key in faults:
            if key in body:
                setattr(fake, key, body[key])
        return JSONResponse({key: getattr(fake, key) for key in faults})

    async def reset(request: Request) -> JSONResponse:
        with fake._lock:
            fake.accepted.clear()
            fake.by_identifier.clear()
            fake.by_id.clear()
            fake.contacts.clear()
            fake.requests.clear()
        return JSONResponse({"ok": True})

    app = fake.app()
    app.router.routes += [Route("/_fake/accepted", accepted, methods=["GET"]),
                          Route("/_fake/requests", requests, methods=["GET"]),
                          Route("/_fake/configure", configure, methods=["POST"]),
                          Route("/_fake/reset", reset, methods=["POST"])]
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                timeout_keep_alive=30)


if __name__ == "__main__":
    _serve()
