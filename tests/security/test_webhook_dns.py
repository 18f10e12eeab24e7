"""Registering a webhook never tells the caller what the server's DNS answered:
a name that resolves to loopback, to a private address or not at all gets one
and the same message (a real server, private targets not allowed)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from core.ssrf import UNREACHABLE_HOST
from tests.ops.conftest import start_server
from tests.subscriptions.client import token_for

REGISTER = """mutation($i: RegisterWebhookInput!) { registerWebhook(input: $i) {
  webhook { id } secret errors { field code message } } }"""


@pytest.fixture(scope="module")
def strict_server(dynamodb_endpoint, tmp_path_factory):
    s = start_server(dynamodb_endpoint, tmp_path_factory.mktemp("dns"))
    try:
        yield s
    finally:
        s.stop()


def register(base: str, url: str) -> dict:
    sub = f"b-{uuid.uuid4().hex[:6]}"
    r = httpx.post(
        base + "/graphql",
        json={"query": REGISTER, "variables": {"i": {"url": url, "events": ["LOAN_FUNDED"]}}},
        headers={"Authorization": f"Bearer {token_for(sub, f'{sub}@example.com')}"},
        timeout=15,
    )
    body = r.json()
    assert "errors" not in body, body
    reg = body["data"]["registerWebhook"]
    assert reg["webhook"] is None and reg["secret"] is None
    (error,) = reg["errors"]
    assert (error["code"], error["field"][-1]) == ("VALIDATION", "url")
    return error


def test_dns_answers_are_not_revealed(strict_server) -> None:
    messages = {
        url: register(strict_server.url, url)["message"]
        for url in (
            "https://localhost/hook",  # resolves to loopback
            "https://localhost.:8443/hook",
            "https://nonexistent.invalid/hook",  # does not resolve
        )
    }
    assert set(messages.values()) == {f"webhook URL refused: {UNREACHABLE_HOST}"}, messages
    for message in messages.values():
        for leak in ("127.0.0.1", "::1", "loopback", "resolves to", "Name or service"):
            assert leak not in message
    # what the caller typed may be named back: an address literal is not a DNS answer
    literal = register(strict_server.url, "https://10.1.2.3/hook")["message"]
    assert literal == "webhook URL refused: 10.1.2.3 is a private address: refused"
    # the operator still sees the resolver's answer in the server log
    assert (
        "resolves to 127.0.0.1" in strict_server.log() or "resolves to ::1" in strict_server.log()
    )
