"""Who may read, and what a response may never contain."""

import base64

import pytest

from tests.web.conftest import NOW, SIM_SECRET, TOKEN, serving, status_with_secrets
from web.app import create_app
from web.auth import TOKEN_ENV, WebConfigError, presented_token, token_for

ROUTES = ("/", "/status", "/positions", "/trades", "/decisions", "/pnl", "/events", "/healthz", "/metrics", "/static/app.js")


def test_loopback_needs_no_token():
    assert token_for("127.0.0.1", {}) is None
    assert token_for("::1", {}) is None
    assert token_for("localhost", {}) is None


def test_loopback_still_uses_a_token_when_one_is_given():
    assert token_for("127.0.0.1", {TOKEN_ENV: TOKEN}) == TOKEN


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "bot.example.org"])
def test_binding_elsewhere_without_a_token_refuses_to_start(host):
    with pytest.raises(WebConfigError, match=TOKEN_ENV):
        token_for(host, {})


def test_a_short_token_is_refused():
    with pytest.raises(WebConfigError, match="at least 16"):
        token_for("0.0.0.0", {TOKEN_ENV: "short"})


def test_bearer_and_basic_headers_both_present_the_token():
    assert presented_token(f"Bearer {TOKEN}") == TOKEN
    assert presented_token("Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()) == TOKEN
    assert presented_token("Basic !!notbase64") is None
    assert presented_token(f"Token {TOKEN}") is None


@pytest.fixture
def guarded(journal_path):
    app = create_app(str(journal_path), status_with_secrets, token=TOKEN, secrets=[SIM_SECRET], clock=lambda: NOW)
    with serving(app) as client:
        yield client


def test_with_a_token_every_route_is_401_without_it(guarded):
    for path in ROUTES:
        response = guarded.get(path)
        assert response.status_code == 401, path
        assert "Basic" in response.headers["www-authenticate"] and "Bearer" in response.headers["www-authenticate"]
        assert response.json() == {"error": "authentication required"}


def test_with_a_token_a_wrong_one_is_401(guarded):
    for header in (f"Bearer {TOKEN}x", "Bearer", f"bearer {TOKEN[:-1]}", "Basic " + base64.b64encode(b"me:nope").decode()):
        assert guarded.get("/status", headers={"Authorization": header}).status_code == 401, header


def test_with_a_token_bearer_and_basic_both_open_every_route(guarded):
    basic = "Basic " + base64.b64encode(f"anyone:{TOKEN}".encode()).decode()
    for path in ROUTES:
        for header in (f"Bearer {TOKEN}", basic):
            assert guarded.get(path, headers={"Authorization": header}).status_code == 200, (path, header)


def test_secrets_never_appear_in_any_response(guarded):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for path in (*ROUTES, "/decisions?limit=0", "/nowhere"):
        response = guarded.get(path, headers=headers)
        text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in (TOKEN, SIM_SECRET):
            assert secret not in text, (path, secret)
    status = guarded.get("/status", headers=headers).json()
    assert status["api_secret"] == "***"
    assert status["credentials"] == "***"
    assert status["note"] == "signed with ***"
    assert status["venue"] == "sim"


def test_the_supervisors_endpoint_refuses_to_serve_a_network_address_without_a_token(journal_path):
    from web.serve import WebServer

    with pytest.raises(WebConfigError, match="not loopback"):
        WebServer(str(journal_path), status_with_secrets, "0.0.0.0", 0)


def test_the_supervisors_endpoint_serves_guarded_with_a_token_and_masks_secrets(journal_path):
    import httpx

    from web.serve import WebServer

    server = WebServer(str(journal_path), status_with_secrets, "127.0.0.1", 0, token=TOKEN, secrets=[SIM_SECRET]).start()
    try:
        assert server.port and server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/status", timeout=5).status_code == 401
        body = httpx.get(f"{server.url}/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
        assert '"venue":"sim"' in body and SIM_SECRET not in body
    finally:
        server.stop()


def test_secrets_written_into_journal_events_are_masked_on_the_way_out(journal_path):
    from vocabulary import messages as m
    from journal.writer import JournalWriter

    writer = JournalWriter(journal_path)
    writer.append_now([m.JournalEvent(ts_ms=NOW, kind="config", source="supervisor", message=f"token is {TOKEN}",
                                      data=(("api_secret", "plain-secret-value"), ("venue", "sim")))])
    writer.close()
    app = create_app(str(journal_path), status_with_secrets, token=TOKEN, secrets=[SIM_SECRET], clock=lambda: NOW)
    with serving(app) as client:
        response = client.get("/events?kind=config", headers={"Authorization": f"Bearer {TOKEN}"})
    event = response.json()["events"][0]
    assert event["message"] == "token is ***"
    assert event["data"] == {"api_secret": "***", "venue": "sim"}
    assert TOKEN not in response.text and "plain-secret-value" not in response.text


def test_a_websocket_upgrade_without_the_token_is_closed_before_routing(journal_path):
    import asyncio

    from web.auth import Guard

    sent = []
    reached = []

    async def app(scope, receive, send):
        reached.append(scope["type"])

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "websocket.connect"}

    guard = Guard(app, TOKEN)
    asyncio.run(guard({"type": "websocket", "headers": []}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1008}] and reached == []
    asyncio.run(guard({"type": "websocket", "headers": [(b"authorization", f"Bearer {TOKEN}".encode())]}, receive, send))
    assert reached == ["websocket"]
