"""Cross-site websocket hijacking: a page elsewhere must not open /ws/agent/ with the agent's cookie.

Over a real uvicorn process with the `websockets` client, as a browser would connect: a valid session
cookie with a foreign, missing or `null` Origin is refused at the handshake (HTTP 403), and so is an
origin that differs from the hub's only by port or scheme (such a page is same-site, so the browser does
send it the cookie). The hub's own origin connects, so the refusals are not a socket that refuses all.

/ws/webchat/<widget_key>/ is embedded by other sites: it opens only for the origins its inbox allows
(the same table, over the same real server), never reads the session, and refuses an unknown key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests import factories
from tests.live import free_port, hub_env, processes, wait_http
from tests.livehub import PASSWORD

pytestmark = pytest.mark.integration


@pytest.fixture
def live_web(transactional_db: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = hub_env(tmp_path / "var", PUBLIC_BASE_URL=url, EMBEDDED_BEAT="0")
    factories.agent("agent_alice")
    with processes(tmp_path) as running:
        running.web(env, port)
        try:
            wait_http(f"{url}/healthz")
        except AssertionError:
            raise AssertionError(running.log("web")) from None
        yield {"port": port, "url": url, "cookie": f"sessionid={_log_in(url)}"}


def _log_in(url: str) -> str:
    """Alice logs in through the form, so the session is the server's own."""
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=10)
    response = session.post(
        f"{url}/accounts/login/",
        data={
            "username": "agent_alice",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=10,
    )
    assert response.url == f"{url}/inbox/", response.text
    return str(session.cookies["sessionid"])


def handshake(port: int, cookie: str, origins: list[str], host: str = "127.0.0.1") -> int | str:
    """The HTTP status of a refused handshake, or the first frame's type when the socket opened."""
    headers = [("Cookie", cookie), *(("Origin", origin) for origin in origins)]
    try:
        with connect(f"ws://{host}:{port}/ws/agent/", additional_headers=headers, open_timeout=10) as socket:
            return str(json.loads(socket.recv(timeout=10))["type"])
    except InvalidStatus as refused:
        return refused.response.status_code


def test_only_the_hubs_own_origin_opens_the_agent_socket(live_web) -> None:
    port, cookie = live_web["port"], live_web["cookie"]
    own = f"http://127.0.0.1:{port}"
    refused = {
        "foreign site": ["https://evil.example.test"],
        "no Origin": [],
        "null (sandboxed iframe, file://)": ["null"],
        "another port on the same host": [f"http://127.0.0.1:{free_port()}"],
        "the default port of the same host": ["http://127.0.0.1"],
        "https instead of http": [f"https://127.0.0.1:{port}"],
        "another allowed host name": [f"http://localhost:{port}"],
        "the hub's host as a prefix": [f"http://127.0.0.1.evil.example.test:{port}"],
        "an origin with userinfo": [f"http://evil@127.0.0.1:{port}"],
    }
    answers = {name: handshake(port, cookie, origins) for name, origins in refused.items()}
    assert answers == dict.fromkeys(refused, 403)
    # Two Origin headers: uvicorn itself answers 400 before the hub sees them; either way, no socket.
    assert handshake(port, cookie, ["https://evil.example.test", own]) in (400, 403)
    assert handshake(port, cookie, [own, own]) in (400, 403)
    assert handshake(port, cookie, [own]) == "hello"
    assert handshake(port, "sessionid=not-a-session", [own]) == 403  # and the session is still required


def test_a_page_served_from_another_allowed_host_name_connects_to_that_name(live_web) -> None:
    """Same origin as the page: http://localhost:PORT talking to localhost:PORT (make run's defaults)."""
    port, cookie = live_web["port"], live_web["cookie"]
    assert handshake(port, cookie, [f"http://localhost:{port}"], host="localhost") == "hello"
    assert (
        handshake(port, cookie, [f"http://127.0.0.1:{port}"], host="localhost") == "hello"
    )  # PUBLIC_BASE_URL
    assert handshake(port, cookie, ["http://localhost:1"], host="localhost") == 403


def widget_handshake(port: int, key: str, origins: list[str], cookie: str = "") -> int | str:
    headers = [*(("Origin", origin) for origin in origins), *((("Cookie", cookie),) if cookie else ())]
    try:
        with connect(
            f"ws://127.0.0.1:{port}/ws/webchat/{key}/", additional_headers=headers, open_timeout=10
        ) as s:
            s.send(json.dumps({"type": "hello"}))
            return str(json.loads(s.recv(timeout=10))["type"])
    except InvalidStatus as refused:
        return refused.response.status_code


def test_only_the_origins_a_web_chat_inbox_allows_open_its_widget_socket(live_web) -> None:
    from conversations.models import Inbox

    port, cookie = live_web["port"], live_web["cookie"]
    shop = "https://shop.example.test"
    key = Inbox.objects.create(name="Shop chat", kind=Inbox.WEBCHAT, allowed_origins=[shop]).widget_key
    refused = {
        "foreign site": ["https://evil.example.test"],
        "no Origin": [],
        "null (sandboxed iframe, file://)": ["null"],
        "the hub's own origin (not in the list)": [f"http://127.0.0.1:{port}"],
        "http instead of https": ["http://shop.example.test"],
        "another port": ["https://shop.example.test:8443"],
        "a subdomain": ["https://www.shop.example.test"],
        "the shop's host as a prefix": ["https://shop.example.test.evil.example.test"],
    }
    answers = {name: widget_handshake(port, key, origins) for name, origins in refused.items()}
    assert answers == dict.fromkeys(refused, 403)
    assert widget_handshake(port, "no-such-key", [shop]) == 403
    assert widget_handshake(port, key, [shop]) == "welcome"
    # The agent's session cookie changes nothing: the widget socket never reads it.
    assert widget_handshake(port, key, ["https://evil.example.test"], cookie=cookie) == 403
