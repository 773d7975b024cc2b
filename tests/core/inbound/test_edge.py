"""core.inbound.edge: the signature Respond.io puts on a webhook and the shape of its body."""

from __future__ import annotations

import pytest

from core import inbound


def test_the_documented_vector() -> None:
    body = b'{"event":"message","data":"test"}'
    assert inbound.sign(body, "secret") == "UtAE5LaeNjrL33PUEQfh69YKw7UhrrkOL9tQN0+xIrI="
    assert inbound.verify_signature(body, "UtAE5LaeNjrL33PUEQfh69YKw7UhrrkOL9tQN0+xIrI=", ["secret"])


@pytest.mark.parametrize("secrets, signed_with, header, body_change, ok", [
    (["k1"], "k1", True, False, True),
    (["k1"], "other", True, False, False),  # wrong key
    (["old", "new"], "new", True, False, True),  # rotation: both keys accepted
    (["old", "new"], "old", True, False, True),
    (["k1"], "k1", False, False, False),  # missing header
    (["k1"], "k1", True, True, False),  # body altered after signing
    ([], "k1", True, False, False),  # no key configured: nothing is accepted
])
def test_signature(secrets, signed_with, header, body_change, ok) -> None:  # noqa: ANN001
    body = b'{"event_type":"message.sent","event_id":"e1"}'
    signature = inbound.sign(body, signed_with) if header else None
    received = body.replace(b"e1", b"e2") if body_change else body
    assert inbound.verify_signature(received, signature, secrets) is ok


@pytest.mark.parametrize("body, reason", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"event_id": "x"}', "event_type"),
    (b'{"event_type": ""}', "event_type"),
    (b"\xff\xfe", "not JSON"),
])
def test_malformed_bodies_are_refused_with_a_reason(body, reason) -> None:  # noqa: ANN001
    with pytest.raises(inbound.InvalidEvent, match=reason):
        inbound.parse(body)


def test_an_event_without_id_is_identified_by_its_body() -> None:
    a = inbound.parse(b'{"event_type": "contact.updated", "contact": {"phone": "+24177000001"}}')
    b = inbound.parse(b'{"event_type": "contact.updated", "contact": {"phone": "+24177000001"}}')
    assert a.event_id == b.event_id and a.event_id.startswith("sha256:")
