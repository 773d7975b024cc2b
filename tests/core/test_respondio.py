"""The Respond.io client against the fake server on loopback, and the sandbox."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from core import respondio
from core.respondio import ProviderError, RespondIO, Sandbox, whatsapp_code_of

PHONE = "+24177280150"
COMPONENTS = [{"type": "body", "parameters": [{"type": "text", "text": "Awa"}]}]


def client(server, *, timeout: float = 5.0, sleeps: list[float] | None = None, retries: int = 3) -> RespondIO:  # noqa: ANN001
    recorder = sleeps if sleeps is not None else []
    return RespondIO(server.token, base_url=server.base_url, channel_id=server.channel_id, timeout=timeout,
                     max_retries=retries, sleep=recorder.append)


def test_send_template_success_and_request_shape(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.templates = {"rappel": 1}
    c = client(fake_respondio)
    message_id = c.send_template(PHONE, "rappel", "fr", COMPONENTS)
    assert message_id == str(fake_respondio.accepted[0].message_id)
    sent = fake_respondio.accepted[0]
    assert sent.identifier == f"phone:{PHONE}" and sent.channel_id == fake_respondio.channel_id
    assert sent.message == {"type": "whatsapp_template", "template": {
        "name": "rappel", "languageCode": "fr", "components": COMPONENTS}}
    statuses = c.message_status(PHONE, message_id)
    assert [s.value for s in statuses] == ["sent", "delivered"]
    assert c.send_text(PHONE, "Bonjour") and fake_respondio.accepted[1].message == {"type": "text", "text": "Bonjour"}
    recent = c.recent_messages(PHONE)
    assert [m.message_id for m in recent] == [str(a.message_id) for a in reversed(fake_respondio.accepted)]
    c.close()


def test_400_with_a_whatsapp_code_is_permanent_and_not_retried(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.templates = {"rappel": 2}
    sleeps: list[float] = []
    c = client(fake_respondio, sleeps=sleeps)
    with pytest.raises(ProviderError) as err:
        c.send_template(PHONE, "rappel", "fr", COMPONENTS)
    assert (err.value.status, err.value.whatsapp_code, err.value.transient, err.value.kind) == \
        (400, "132000", False, "template")
    assert err.value.body["code"] == 400 and sleeps == [] and len(fake_respondio.requests) == 1
    with pytest.raises(ProviderError) as err:
        c.send_template(PHONE, "inconnu", "fr", COMPONENTS)
    assert err.value.whatsapp_code == "132001"


def test_401_is_permanent(fake_respondio) -> None:  # noqa: ANN001
    c = RespondIO("wrong-token", base_url=fake_respondio.base_url, channel_id=fake_respondio.channel_id,
                  sleep=lambda s: None)
    with pytest.raises(ProviderError) as err:
        c.send_text(PHONE, "x")
    assert err.value.status == 401 and not err.value.transient and len(fake_respondio.requests) == 1


def test_429_then_success_honours_retry_after(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.fail_next(2, status=429, body={"code": 429, "message": "Too many requests"}, retry_after=1.5)
    sleeps: list[float] = []
    c = client(fake_respondio, sleeps=sleeps)
    assert c.send_text(PHONE, "x")
    assert sleeps == [1.5, 1.5] and c.rate_limited == 2 and c.retries == 2
    assert len(fake_respondio.accepted) == 1


def test_real_rate_limit_answers_429_with_headers(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.rate_limit = 3
    raw = httpx.Client(base_url=fake_respondio.base_url,
                       headers={"Authorization": f"Bearer {fake_respondio.token}"})
    answers = [raw.post(f"/contact/phone:{PHONE}/message", json={"channelId": fake_respondio.channel_id,
                                                                 "message": {"type": "text", "text": "x"}})
               for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["X-RateLimit-Limit"] == "3" and answers[3].headers["X-RateLimit-Remaining"] == "0"
    assert 0 < float(answers[3].headers["Retry-After"]) <= 1
    # the client waits as told and gets through
    c = RespondIO(fake_respondio.token, base_url=fake_respondio.base_url, channel_id=fake_respondio.channel_id)
    assert c.send_text(PHONE, "y") and c.retries >= 1
    raw.close()


def test_5xx_then_success(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.fail_next(2, status=503)
    sleeps: list[float] = []
    c = client(fake_respondio, sleeps=sleeps)
    assert c.send_text(PHONE, "x")
    assert len(sleeps) == 2 and sleeps[0] < sleeps[1] <= 10  # exponential, capped
    assert len(fake_respondio.accepted) == 1


def test_timeout_then_success(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.timeouts_next = 1
    fake_respondio.timeout_seconds = 2.0
    c = client(fake_respondio, timeout=0.5)
    started = time.monotonic()
    assert c.send_text(PHONE, "x")
    assert c.retries == 1 and time.monotonic() - started < 5


def test_retries_exhausted(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.fail_next(10, status=500)
    sleeps: list[float] = []
    c = client(fake_respondio, sleeps=sleeps, retries=3)
    with pytest.raises(ProviderError) as err:
        c.send_text(PHONE, "x")
    assert err.value.transient and err.value.status == 500 and len(sleeps) == 3
    assert len(fake_respondio.requests) == 4 and fake_respondio.accepted == []


def test_network_error_is_transient() -> None:
    c = RespondIO("t", base_url="http://127.0.0.1:9/v2", channel_id=1, timeout=1, max_retries=1, sleep=lambda s: None)
    with pytest.raises(ProviderError) as err:
        c.send_text(PHONE, "x")
    assert err.value.transient and err.value.status is None


def test_bad_identifier_is_refused_before_any_request(fake_respondio) -> None:  # noqa: ANN001
    with pytest.raises(ProviderError, match="E.164"):
        client(fake_respondio).send_text("077280150", "x")
    assert fake_respondio.requests == []


def test_the_token_never_appears_in_logs_or_errors(fake_respondio, caplog) -> None:  # noqa: ANN001
    secret = "tok-SECRET-123456"
    caplog.set_level(logging.DEBUG)
    c = RespondIO(secret, base_url=fake_respondio.base_url, channel_id=fake_respondio.channel_id,
                  max_retries=1, sleep=lambda s: None)
    fake_respondio.fail_next(5, status=500)
    with pytest.raises(ProviderError) as err:
        c.send_text(PHONE, "x")
    with pytest.raises(ProviderError) as err2:
        c.send_text(PHONE, "x")  # 401: the fake only knows its own token
    text = caplog.text + str(err.value) + repr(err.value.body) + str(err2.value) + repr(err2.value.__dict__)
    assert secret not in text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("core"))
    assert ours and PHONE not in ours  # phone numbers are masked in our log lines


def test_templates_from_either_documented_endpoint(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.template_list = [{"name": "rappel", "language": "fr", "status": "APPROVED", "category": "UTILITY",
                                     "components": [{"type": "BODY", "text": "Bonjour {{1}}"}]}]
    assert client(fake_respondio).list_templates()[0]["name"] == "rappel"
    fake_respondio.template_endpoint = "mtm"
    assert client(fake_respondio).list_templates()[0]["name"] == "rappel"
    assert client(fake_respondio).list_channels()[0]["source"] == "whatsapp_cloud"
    client(fake_respondio).upsert_contact(PHONE, {"firstName": "Awa"})


def test_undeliverable_message_status_carries_the_code(fake_respondio) -> None:  # noqa: ANN001
    fake_respondio.undeliverable = {PHONE}
    c = client(fake_respondio)
    message_id = c.send_text(PHONE, "x")
    status = c.message_status(PHONE, message_id)[-1]
    assert (status.value, status.error_code) == ("failed", "131026")


@pytest.mark.parametrize("body, code", [
    ({"code": 400, "message": "(#132000) Number of parameters does not match"}, "132000"),
    ({"code": 400, "message": "Error 131047: re-engagement message"}, "131047"),
    ({"code": 400, "errorCode": 131026}, "131026"),
    ({"code": 400, "message": "Invalid channel"}, None),
    ("gateway timeout", None),
])
def test_whatsapp_code_extraction(body, code) -> None:  # noqa: ANN001
    assert whatsapp_code_of(body) == code


def test_sandbox_outcomes_are_realistic_and_stateless() -> None:
    sandbox = Sandbox(delivery_seconds=1.0, read_seconds=2.0)
    ids = [sandbox.send_template(f"+2417700{i:04d}", "t", "fr", []) for i in range(2000)]
    later = time.time() + 60
    finals = [sandbox.message_status("+24177000000", m, now=later)[-1] for m in ids]
    shares = {v: sum(f.value == v for f in finals) / len(finals) for v in ("read", "delivered", "failed")}
    assert 0.55 < shares["read"] < 0.70 and 0.2 < shares["delivered"] < 0.32 and 0.08 < shares["failed"] < 0.17
    assert {f.error_code for f in finals if f.value == "failed"} <= {"131026", "131049", "131050", "131051"}
    # right after sending, only "sent"; another Sandbox (another process) gives the same answer
    fresh = sandbox.send_template(PHONE, "t", "fr", [])
    assert [s.value for s in sandbox.message_status(PHONE, fresh)] == ["sent"]
    other_process = Sandbox(delivery_seconds=1.0, read_seconds=2.0)
    assert other_process.message_status(PHONE, ids[0], now=later) == sandbox.message_status(PHONE, ids[0], now=later)
    assert [m.message_id for m in sandbox.recent_messages(PHONE)] == [fresh]


def test_the_provider_is_the_sandbox_without_a_token(monkeypatch) -> None:  # noqa: ANN001
    from core.config import reload_settings

    monkeypatch.delenv("RESPONDIO_API_TOKEN", raising=False)
    assert respondio.provider(reload_settings()).name == "sandbox"
    monkeypatch.setenv("RESPONDIO_API_TOKEN", "x")
    real = respondio.provider(reload_settings())
    assert real.name == "respondio"
    real.close()
    reload_settings()


def test_requests_go_through_the_proxy_the_environment_sets(monkeypatch) -> None:  # noqa: ANN001
    """A real proxy on loopback: with HTTP_PROXY set, the API is reached through it (the request line
    carries the absolute address); NO_PROXY for the API's host sends it direct."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[tuple[str, str, dict]] = []

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((self.path, self.headers["Authorization"], body))
            answer = b'{"contactId": 1, "messageId": 77}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_port}")
        c = RespondIO("tok", base_url="http://respond.invalid/v2", channel_id=5, max_retries=0)
        assert c.send_text(PHONE, "Bonjour") == "77"
        c.close()
        assert seen == [(f"http://respond.invalid/v2/contact/phone:{PHONE}/message", "Bearer tok",
                         {"message": {"type": "text", "text": "Bonjour"}, "channelId": 5})]
        monkeypatch.setenv("NO_PROXY", "respond.invalid")
        direct = RespondIO("tok", base_url="http://respond.invalid/v2", channel_id=5, max_retries=0)
        with pytest.raises(ProviderError) as err:  # no such host: the proxy was not used
            direct.send_text(PHONE, "Bonjour")
        assert err.value.transient and len(seen) == 1
        direct.close()
    finally:
        server.shutdown()
