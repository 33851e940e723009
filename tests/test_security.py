"""Authentication, sessions, throttling, headers and compression, on a small Dash app in process.

The same protections through the real `credsight serve` (gunicorn, TLS, a browser) are in test_serve.py.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import re
from collections.abc import Callable
from typing import Any

import brotli  # type: ignore[import-untyped]
import dash
import flask
import pytest
from dash import Input, Output, dcc
from dash import html as dash_html

from credsight.errors import ServeError
from credsight.present.dashboard.headers import ASSETS, content_security_policy
from credsight.present.dashboard.security import (
    COOKIE,
    LOGOUT_PATH,
    TLS_COOKIE,
    TOKEN_HOLDER,
    Auth,
    can_sign_out,
    check_serving,
    harden,
    is_loopback,
    signed_in_user,
)
from credsight.present.dashboard.server import redact
from credsight.present.dashboard.sessions import FAILURES_ALLOWED, FailedSignIns, Sessions

TOKEN = "t" * 32
PASSWORD = "p" * 16
SECRET = b"s" * 32
BIG = "a long row of words " * 400  # a callback answer worth compressing


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def small_app(auth: Auth) -> flask.Flask:
    """A Dash app with one callback and a route that says who is signed in, hardened as credsight's."""
    app = dash.Dash(__name__, serve_locally=True)
    app.layout = dash_html.Div([dcc.Location(id="url"), dash_html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("url", "pathname"))
    def show(pathname: str | None) -> str:
        return BIG

    def who() -> Any:
        return flask.jsonify(user=signed_in_user(), can_sign_out=can_sign_out())

    server: flask.Flask = app.server
    server.add_url_rule("/who", "who", who)
    harden(app, auth)
    return server


CALLBACK = {
    "output": "out.children",
    "outputs": {"id": "out", "property": "children"},
    "inputs": [{"id": "url", "property": "pathname", "value": "/"}],
    "changedPropIds": ["url.pathname"],
}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def moves_to(page: str) -> str:
    """Where a page's meta refresh sends the browser."""
    found = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', page)
    assert found, page
    return html.unescape(found.group(1))


def bundle_paths(server: flask.Flask, **headers: str) -> list[str]:
    index = server.test_client().get("/", headers=headers).get_data(as_text=True)
    return re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', index)


# -- sessions and throttling --------------------------------------------------------------------


def test_a_session_proves_a_sign_in_without_holding_the_token() -> None:
    clock = Clock()
    sessions = Sessions(SECRET, TOKEN, lifetime=3600, clock=clock)
    cookie = sessions.issue()
    assert TOKEN not in cookie and sessions.session_id(cookie)
    assert Sessions(SECRET, TOKEN, clock=clock).session_id(cookie)  # a restart under the same secret keeps it
    assert Sessions(b"x" * 32, TOKEN, clock=clock).session_id(cookie) is None  # another secret
    assert Sessions(SECRET, "u" * 32, clock=clock).session_id(cookie) is None  # a new token ends old sessions
    tampered = ("B" if cookie[0] == "A" else "A") + cookie[1:]  # another session id, the same signature
    assert sessions.session_id(tampered) is None
    assert sessions.session_id("") is None and sessions.session_id("not.a.session") is None
    clock.now += 3601
    assert sessions.session_id(cookie) is None  # expired


def test_a_revoked_session_stays_ended() -> None:
    sessions = Sessions(SECRET, TOKEN)
    kept, ended = sessions.issue(), sessions.issue()
    sessions.revoke(ended)
    assert sessions.session_id(ended) is None and sessions.session_id(kept)


def test_failed_sign_ins_are_throttled_per_address_for_a_minute() -> None:
    clock = Clock()
    failures = FailedSignIns(clock=clock)
    for _ in range(FAILURES_ALLOWED - 1):
        failures.failed("192.0.2.9")
        clock.now += 1
    assert failures.wait_seconds("192.0.2.9") == 0
    failures.failed("192.0.2.9")
    assert failures.wait_seconds("192.0.2.9") == 51  # the oldest failure was 9 s ago
    assert failures.wait_seconds("192.0.2.10") == 0  # another address is not held back
    clock.now += 51
    assert failures.wait_seconds("192.0.2.9") == 0
    assert "192.0.2.10" not in failures.failures  # asking remembers nothing


# -- what may be served where -------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_is_this_machine_only(host: str) -> None:
    assert is_loopback(host)
    assert check_serving(host, Auth(), allow_plain_http=False) == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.2", "fd00::2", "::ffff:127.0.0.1", "example.com"])
def test_every_other_address_asks_for_authentication(host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(ServeError, match=f"^refusing to serve on {re.escape(host)} without authentication"):
        check_serving(host, Auth(), allow_plain_http=False)


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        (Auth(token="t" * 31), "the token (--auth-token or CREDSIGHT_SERVE_TOKEN) has 31 characters; use at least 32"),
        (Auth(user="ana", password="p" * 15), "CREDSIGHT_SERVE_PASSWORD has 15 characters; use at least 16"),
        (Auth(token=TOKEN, secret=b"short"), "CREDSIGHT_SERVE_SECRET has 5 characters; use at least 32"),
        (Auth(user="ana"), "set both CREDSIGHT_SERVE_USER and CREDSIGHT_SERVE_PASSWORD"),
        (Auth(password=PASSWORD), "set both CREDSIGHT_SERVE_USER and CREDSIGHT_SERVE_PASSWORD"),
    ],
)
def test_weak_secrets_are_refused_with_how_to_make_one(auth: Auth, says: str) -> None:
    for host in ("127.0.0.1", "0.0.0.0"):  # a weak secret is refused anywhere
        with pytest.raises(ServeError) as caught:
            check_serving(host, auth, allow_plain_http=True)
        assert says in str(caught.value) and "\n" not in str(caught.value)
        if "characters" in says:
            assert "secrets.token_urlsafe(32)" in str(caught.value)


def test_beyond_loopback_plain_http_is_refused_unless_allowed_and_then_warned() -> None:
    with pytest.raises(ServeError, match=r"refusing to serve on 0\.0\.0\.0 over plain HTTP"):
        check_serving("0.0.0.0", Auth(token=TOKEN), allow_plain_http=False)
    [warning] = check_serving("0.0.0.0", Auth(token=TOKEN), allow_plain_http=True)
    assert "plain HTTP" in warning and "unencrypted" in warning
    assert check_serving("0.0.0.0", Auth(token=TOKEN, tls=True), allow_plain_http=False) == []
    assert check_serving("0.0.0.0", Auth(user="ana", password=PASSWORD, tls=True), allow_plain_http=False) == []


@pytest.mark.parametrize(
    ("host", "auth", "says"),
    [
        ("0.0.0.0", Auth(trusted_user_header="X-Forwarded-User"), "refusing --trusted-user-header on 0.0.0.0"),
        ("192.0.2.2", Auth(trusted_user_header="X-Forwarded-User", tls=True), "any client could send the header"),
        ("127.0.0.1", Auth(trusted_user_header="X-Forwarded-User", token=TOKEN), "both decide who signs in"),
        ("127.0.0.1", Auth(trusted_user_header="X_Forwarded_User"), "is not a header name"),
    ],
)
def test_the_proxy_header_is_trusted_only_where_only_the_proxy_connects(host: str, auth: Auth, says: str) -> None:
    with pytest.raises(ServeError, match=says):
        check_serving(host, auth, allow_plain_http=False)


def test_the_proxy_header_is_taken_on_loopback_and_a_unix_socket() -> None:
    auth = Auth(trusted_user_header="X-Forwarded-User")
    assert check_serving("127.0.0.1", auth, allow_plain_http=False) == []
    assert check_serving(None, auth, allow_plain_http=False) == []


def test_the_access_log_never_shows_the_token() -> None:
    assert redact(f"token={TOKEN}") == "token=[redacted]"
    assert redact(f"accounts=1,2&token={TOKEN}&date=2026-11-01") == "accounts=1,2&token=[redacted]&date=2026-11-01"
    assert redact("mytoken=1&x=2") == "mytoken=1&x=2"


# -- requests -----------------------------------------------------------------------------------


def test_a_token_link_starts_a_session_and_logout_ends_it() -> None:
    server = small_app(Auth(token=TOKEN, secret=SECRET))
    browser = server.test_client()
    assert browser.get("/").status_code == 401
    first = browser.get(f"/users?token={TOKEN}&accounts=111122223333")
    # a page that moves on to the address without the token (a redirect would lose a cross-site link's cookie)
    assert first.status_code == 200 and moves_to(first.get_data(as_text=True)) == "/users?accounts=111122223333"
    assert TOKEN not in first.get_data(as_text=True)
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and TOKEN not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie and "Max-Age=" in cookie
    assert browser.get("/").status_code == 200
    assert browser.post("/_dash-update-component", json=CALLBACK).status_code == 200
    assert browser.get("/who").json == {"user": TOKEN_HOLDER, "can_sign_out": True}
    ended = browser.get(LOGOUT_PATH)
    assert ended.status_code == 200 and "Signed out" in ended.get_data(as_text=True)
    assert f"{COOKIE}=;" in ended.headers["Set-Cookie"]
    assert browser.get("/").status_code == 401

    stolen = server.test_client()  # a copy of the ended session, replayed: still refused
    stolen.set_cookie(COOKIE, cookie.split(";")[0].split("=", 1)[1])
    refused = stolen.get("/")
    assert refused.status_code == 401 and "session has ended" in refused.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "query", "moves"),
    [
        ("//evil.example/x", f"token={TOKEN}", "/evil.example/x"),  # never to another host
        ("/compliance", f"token={TOKEN}&ou=Root/Prod&date=2026-11-01", "/compliance?ou=Root%2FProd&date=2026-11-01"),
        ('/a"b<c', f"token={TOKEN}", "/a%22b%3Cc"),
    ],
)
def test_the_token_link_moves_on_within_this_site(path: str, query: str, moves: str) -> None:
    client = small_app(Auth(token=TOKEN)).test_client()
    answer = client.get("/", environ_overrides={"PATH_INFO": path, "QUERY_STRING": query})  # as the server hands it
    assert answer.status_code == 200 and moves_to(answer.get_data(as_text=True)) == moves
    assert "<c" not in answer.get_data(as_text=True)


def test_a_bearer_token_is_asked_of_every_request() -> None:
    client = small_app(Auth(token=TOKEN)).test_client()
    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/who"):
        assert client.get(path).status_code == 401, path
    assert client.post("/_dash-update-component", json=CALLBACK).status_code == 401
    assert client.get("/", headers={"Authorization": "Bearer " + "x" * 32}).status_code == 401
    allowed = client.get("/who", headers={"Authorization": f"Bearer {TOKEN}"})
    assert allowed.status_code == 200 and allowed.json == {"user": TOKEN_HOLDER, "can_sign_out": False}
    forged = small_app(Auth(token=TOKEN)).test_client()
    forged.set_cookie(COOKIE, TOKEN)  # the old cookie held the token itself: no longer a way in
    assert forged.get("/").status_code == 401


def test_under_tls_the_cookie_is_secure_and_host_only_and_hsts_is_sent() -> None:
    server = small_app(Auth(token=TOKEN, tls=True))
    first = server.test_client().get(f"/?token={TOKEN}", base_url="https://localhost")
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{TLS_COOKIE}=") and "Secure" in cookie and "Path=/" in cookie
    assert first.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in small_app(Auth(token=TOKEN)).test_client().get("/").headers


def test_basic_auth_takes_the_right_password_only() -> None:
    client = small_app(Auth(user="ana", password=PASSWORD)).test_client()
    refused = client.get("/")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith('Basic realm="credsight"')
    assert client.get("/who", headers=basic("ana", PASSWORD)).json == {"user": "ana", "can_sign_out": False}
    assert client.get("/", headers=basic("ana", "wrong" * 4)).status_code == 401
    assert client.get("/", headers=basic("bob", PASSWORD)).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!not-base64"}).status_code == 401


def test_wrong_secrets_are_answered_429_after_ten() -> None:
    client = small_app(Auth(token=TOKEN)).test_client()
    guesser = {"REMOTE_ADDR": "192.0.2.50"}
    for _ in range(FAILURES_ALLOWED):
        assert client.get("/", headers={"Authorization": "Bearer guess"}, environ_base=guesser).status_code == 401
    held = client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base=guesser)
    assert held.status_code == 429 and 1 <= int(held.headers["Retry-After"]) <= 60  # even the right one, now
    assert "Content-Security-Policy" in held.headers
    other = client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}, environ_base={"REMOTE_ADDR": "192.0.2.51"})
    assert other.status_code == 200
    for _ in range(FAILURES_ALLOWED + 2):  # requests that try nothing are not failures
        assert client.get("/", environ_base={"REMOTE_ADDR": "192.0.2.52"}).status_code == 401


def test_the_proxy_user_is_taken_from_its_header() -> None:
    client = small_app(Auth(trusted_user_header="X-Forwarded-User")).test_client()
    assert client.get("/who").status_code == 401
    assert client.get("/who", headers={"X-Forwarded-User": "   "}).status_code == 401
    assert client.get("/who", headers={"X-Forwarded-User": "x" * 300}).status_code == 401
    said = client.get("/who", headers={"X-Forwarded-User": "ana@example.com"})
    assert said.json == {"user": "ana@example.com", "can_sign_out": False}
    assert client.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 401  # the proxy decides


def test_on_loopback_without_authentication_nobody_is_signed_in() -> None:
    client = small_app(Auth()).test_client()
    assert client.get("/who").json == {"user": None, "can_sign_out": False}
    assert client.get(LOGOUT_PATH).status_code == 200


# -- headers and compression --------------------------------------------------------------------


def test_the_policy_allows_this_origin_and_dash_s_own_inline_script_only() -> None:
    server = small_app(Auth())
    index = server.test_client().get("/")
    policy = index.headers["Content-Security-Policy"]
    assert policy == content_security_policy(re.findall(r"'sha256-[^']+'", policy))
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["default-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert "'unsafe-inline'" not in directives["script-src"] and "'unsafe-eval'" not in directives["script-src"]
    assert "http" not in policy and "*" not in policy  # no other origin
    page = re.sub(r"<!--.*?-->", "", index.get_data(as_text=True), flags=re.S)  # IE's conditional comment
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>(.*?)</script>", page, re.S)
    assert inline  # the renderer's start: allowed by its hash, and only it
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in directives["script-src"]


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/", lambda c, h: c.get("/", headers=h)),
        ("/_dash-layout", lambda c, h: c.get("/_dash-layout", headers=h)),
        ("callback", lambda c, h: c.post("/_dash-update-component", json=CALLBACK, headers=h)),
        ("asset", lambda c, h: c.get(bundle_paths(c.application, **h)[0], headers=h)),
        ("404", lambda c, h: c.get("/assets/no-such-file.css", headers=h)),
        ("500", lambda c, h: c.get(ASSETS + "dash/no-such-bundle.js", headers=h)),  # Dash raises
        ("401", lambda c, h: c.get("/")),
        ("405", lambda c, h: c.delete("/_dash-layout", headers=h)),
        ("logout", lambda c, h: c.get(LOGOUT_PATH)),
    ],
)
def test_every_response_carries_the_protections(path: str, make: Callable[[Any, dict[str, str]], Any]) -> None:
    client = small_app(Auth(token=TOKEN)).test_client()
    response = make(client, {"Authorization": f"Bearer {TOKEN}"})
    expected = {"401": 401, "404": 404, "405": 405, "500": 500}.get(path, 200)
    assert response.status_code == expected
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    if path == "asset":
        assert "max-age" in response.headers["Cache-Control"]  # Dash's own: bundles are fingerprinted
    else:
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("encoding", "decode"), [("br", brotli.decompress), ("gzip", gzip.decompress)])
def test_bundles_and_callbacks_are_compressed_as_asked(encoding: str, decode: Callable[[bytes], bytes]) -> None:
    server = small_app(Auth())
    client = server.test_client()
    path = max(bundle_paths(server), key=lambda p: len(client.get(p).get_data()))
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    packed = client.get(path, headers={"Accept-Encoding": f"{encoding}, identity;q=0.5"})
    assert packed.headers["Content-Encoding"] == encoding and "Accept-Encoding" in packed.headers["Vary"]
    assert decode(packed.get_data()) == plain.get_data()
    assert len(packed.get_data()) < len(plain.get_data()) / 2
    again = client.get(path, headers={"Accept-Encoding": encoding})
    assert again.get_data() == packed.get_data()
    answer = client.post("/_dash-update-component", json=CALLBACK, headers={"Accept-Encoding": encoding})
    assert answer.headers["Content-Encoding"] == encoding
    assert BIG in decode(answer.get_data()).decode() and len(answer.get_data()) < len(BIG) / 10


def test_only_the_bundles_are_kept_compressed() -> None:
    from credsight.present.dashboard.headers import AssetCache, asset_key, compress

    caches: list[AssetCache] = []

    def make_cache() -> AssetCache:
        caches.append(AssetCache())
        return caches[-1]

    app = dash.Dash(__name__, serve_locally=True)
    app.layout = dash_html.Div([dcc.Location(id="url"), dash_html.Div(id="out")])
    app.callback(Output("out", "children"), Input("url", "pathname"))(lambda pathname: BIG)
    compress(app.server, make_cache)
    client = app.server.test_client()
    paths = bundle_paths(app.server)
    for path in paths:
        client.get(path, headers={"Accept-Encoding": "br"})
    client.post("/_dash-update-component", json=CALLBACK, headers={"Accept-Encoding": "br"})
    [cache] = caches
    kept = {key.split(";", 1)[1] for key in cache.data}
    assert kept and kept <= set(paths) and all(k.startswith(ASSETS) for k in kept)
    with app.server.test_request_context("/_dash-update-component", method="POST"):
        assert asset_key(flask.request) == "-"
    with app.server.test_request_context("/assets/credsight.js"):  # not a fixed bundle: not kept
        assert asset_key(flask.request) == "-"
    with app.server.test_request_context("/assets/vendor/plotly-cartesian.min.js"):
        assert asset_key(flask.request) == "/assets/vendor/plotly-cartesian.min.js"
    cache.set("br;/assets/vendor/plotly-cartesian.min.js", b"packed")
    assert cache.get("br;/assets/vendor/plotly-cartesian.min.js") == b"packed"
