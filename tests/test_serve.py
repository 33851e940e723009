"""`credsight serve` as a user runs it: the real command in its own process, on gunicorn, over real sockets.

HTTP is spoken with the standard library's http.client (nothing decompressed or followed behind the
test's back); HTTPS with a certificate authority made in the test (trustme); the browser is Debian's
Chromium through Playwright.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import brotli  # type: ignore[import-untyped]
import pytest
import trustme
from bench.common import CHROMIUM, free_port
from playwright.sync_api import sync_playwright

from credsight.demo import DemoOrganization
from credsight.demo.store import build_demo_store
from credsight.query.maintenance import compact_and_summarise
from credsight.rules.summaries import SUMMARY_KINDS
from credsight.store import Store
from tests.conftest import CHROMIUM_ARGS

TOKEN = "a-token-of-forty-characters-for-the-tests"
PASSWORD = "a-password-of-24-chars!!"
PROTECTIONS = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy")
# Every violation of the page's Content-Security-Policy, as the browser reports it.
CSP_VIOLATIONS = """document.addEventListener('securitypolicyviolation',
    e => (window.__csp = window.__csp || []).push(e.violatedDirective + ' ' + e.blockedURI));"""


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log: Path
    tls: ssl.SSLContext | None = None
    unix_socket: str | None = None

    @property
    def base(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{shown}:{self.port}"

    def connection(self) -> http.client.HTTPConnection:
        if self.unix_socket:
            return UnixConnection(self.unix_socket)
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.tls, timeout=60)
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def ask(self, path: str, method: str = "GET", body: bytes | None = None, **headers: str) -> Answer:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()})
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


class UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket, as a proxy on this machine speaks to credsight."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=60)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without any CREDSIGHT_ setting, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CREDSIGHT_")} | extra


def credsight_serve(store: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "credsight.cli", "serve", "--store", str(store), *args]


@contextmanager
def serving(
    store: Path,
    *args: str,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    unix_socket: str | None = None,
) -> Iterator[Served]:
    """`credsight serve` on a free port until it accepts connections; SIGTERM after, and it must exit 0."""
    port = free_port()
    where = ["--unix-socket", unix_socket] if unix_socket else ["--host", host, "--port", str(port)]
    log = store.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            credsight_serve(store, *where, *args), stdout=out, stderr=subprocess.STDOUT, env=env or environment()
        )
    served = Served(process, host, port, log, tls, unix_socket)
    try:
        wait_until_listening(served)
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, served.output()


def wait_until_listening(served: Served) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if served.unix_socket:
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(served.unix_socket)
            else:
                socket.create_connection((served.host, served.port), timeout=1).close()
            return
        except OSError:
            if served.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"credsight serve did not start: {served.output()}") from None
            time.sleep(0.05)  # polling for the port: the server says nothing when it is ready


def refused(store: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `credsight serve` expecting a one-line refusal before it listens; the line."""
    try:
        done = subprocess.run(
            credsight_serve(store, *args), capture_output=True, text=True, env=env or environment(), timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"credsight serve {' '.join(args)} started serving")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and "dashboard on" not in done.stdout
    return done.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("serve") / "store"
    target = Store(str(folder))
    build_demo_store(target, DemoOrganization(accounts=3, days=6, seed=4))
    compact_and_summarise(target, SUMMARY_KINDS)
    return folder


def this_machines_address() -> str:
    """An address of this machine that is not loopback (where the route to the world leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("198.51.100.1", 9))  # TEST-NET-2: nothing is sent, the kernel only picks a route
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), address
    return address


@dataclass
class Certificate:
    cert: Path
    key: Path
    client: ssl.SSLContext


def certificate(folder: Path, *names: str) -> Certificate:
    ca = trustme.CA()
    issued = ca.issue_cert(*names)
    cert, key = folder / "cert.pem", folder / "key.pem"
    issued.private_key_pem.write_to_path(str(key))
    for index, blob in enumerate(issued.cert_chain_pems):
        blob.write_to_path(str(cert), append=index > 0)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return Certificate(cert, key, client)


def callback_request(served: Served, pathname: str) -> bytes:
    """The body of the callback that draws the page for `pathname`, found in the app's dependencies."""
    dependencies = json.loads(served.ask("/_dash-dependencies").body)
    page = next(d for d in dependencies if {"id": "url", "property": "pathname"} in d["inputs"])
    output_id, _, output_property = page["output"].partition(".")
    values = {"pathname": pathname, "search": ""}
    return json.dumps(
        {
            "output": page["output"],
            "outputs": {"id": output_id, "property": output_property},
            "inputs": [{**i, "value": values.get(i["property"])} for i in page["inputs"]],
            "state": [{**s, "value": None} for s in page["state"]],
            "changedPropIds": ["url.pathname"],
        }
    ).encode()


# -- where it may listen -------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_loopback_is_served_without_authentication(store: Path, host: str) -> None:
    with serving(store, host=host) as served:
        page = served.ask("/")
        assert page.status == 200 and b"<title>credsight</title>" in page.body
        assert all(name in page.headers for name in PROTECTIONS)
    said = served.output()
    assert f"credsight dashboard on http://{'[::1]' if host == '::1' else host}:{served.port}/" in said
    assert "development server" not in said.lower() and "Traceback" not in said


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "this machine's address"])
def test_every_other_address_is_refused_without_authentication(store: Path, host: str) -> None:
    host = this_machines_address() if host == "this machine's address" else host
    said = refused(store, "--host", host, "--port", str(free_port()))
    assert said.startswith(f"error: refusing to serve on {host} without authentication")


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--auth-token", "short"], {}, "the token (--auth-token or CREDSIGHT_SERVE_TOKEN) has 5 characters"),
        ([], {"CREDSIGHT_SERVE_TOKEN": "x" * 31}, "has 31 characters; use at least 32"),
        ([], {"CREDSIGHT_SERVE_USER": "ana", "CREDSIGHT_SERVE_PASSWORD": "hunter2"}, "PASSWORD has 7 characters"),
        ([], {"CREDSIGHT_SERVE_USER": "ana"}, "set both CREDSIGHT_SERVE_USER and CREDSIGHT_SERVE_PASSWORD"),
        (["--auth-token", TOKEN], {"CREDSIGHT_SERVE_SECRET": "abc"}, "CREDSIGHT_SERVE_SECRET has 3 characters"),
        (["--host", "0.0.0.0", "--auth-token", TOKEN], {}, "refusing to serve on 0.0.0.0 over plain HTTP"),
        (["--host", "0.0.0.0", "--trusted-user-header", "X-User"], {}, "refusing --trusted-user-header on 0.0.0.0"),
        (["--tls-cert", "{cert}"], {}, "give both --tls-cert and --tls-key"),
        (["--tls-cert", "{cert}", "--tls-key", "{missing}"], {}, "--tls-key {missing}: no readable file there"),
        (["--tls-cert", "{cert}", "--tls-key", "{cert}"], {}, "are not a certificate and its private key"),
        (["--access-log", "{missing}/access.log"], {}, "cannot write the access log"),
        (["--threads", "0"], {}, "--threads"),
    ],
)
def test_what_would_not_hold_up_is_refused_in_one_line(
    store: Path, tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    made = certificate(tmp_path, "localhost")
    names = {"cert": str(made.cert), "missing": str(tmp_path / "nowhere")}
    said = refused(store, "--port", str(free_port()), *[a.format(**names) for a in args], env=environment(**env))
    assert says.format(**names) in said
    if "characters" in says:
        assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in said


def test_a_port_in_use_is_said_at_once(store: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        said = refused(store, "--port", str(taken.getsockname()[1]))
    assert "is in use" in said


# -- who may see it ------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_a_token_is_asked_of_every_request_and_kept_out_of_the_log(store: Path, tmp_path: Path, given: str) -> None:
    log = tmp_path / "access.log"
    args = ["--auth-token", TOKEN] if given == "flag" else []
    env = environment(CREDSIGHT_SERVE_TOKEN=TOKEN) if given == "environment" else None
    with serving(store, *args, "--access-log", str(log), env=env) as served:
        for path in ("/", "/_dash-layout", "/_dash-dependencies"):
            assert served.ask(path).status == 401, path
        assert served.ask("/", Authorization="Bearer " + "x" * 40).status == 401
        assert served.ask("/", Authorization=f"Bearer {TOKEN}").status == 200
        linked = served.ask(f"/health?token={TOKEN}&accounts=111122223333")
        assert linked.status == 200 and b'url=/health?accounts=111122223333"' in linked.body
        cookie = linked.headers["Set-Cookie"]
        assert TOKEN not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert served.ask("/_dash-layout", Cookie=cookie.split(";")[0]).status == 200
    written = log.read_text()
    assert "GET /health?token=[redacted]&accounts=111122223333" in written
    assert TOKEN not in written and TOKEN not in served.output()


def test_basic_auth_from_the_environment(store: Path) -> None:
    env = environment(CREDSIGHT_SERVE_USER="ana", CREDSIGHT_SERVE_PASSWORD=PASSWORD)
    with serving(store, env=env) as served:
        asked = served.ask("/")
        assert asked.status == 401 and asked.headers["WWW-Authenticate"].startswith('Basic realm="credsight"')

        def basic(user: str, password: str) -> str:
            return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

        assert served.ask("/", Authorization=basic("ana", PASSWORD)).status == 200
        assert served.ask("/", Authorization=basic("ana", PASSWORD[:-1] + "?")).status == 401
        assert served.ask("/", Authorization=basic("bob", PASSWORD)).status == 401


def test_wrong_tokens_are_answered_429_with_retry_after(store: Path) -> None:
    with serving(store, "--auth-token", TOKEN) as served:
        answers = [served.ask("/", Authorization=f"Bearer wrong-{n}").status for n in range(10)]
        assert answers == [401] * 10
        held = served.ask("/", Authorization=f"Bearer {TOKEN}")  # the right one too, from this address, now
        assert held.status == 429 and 1 <= int(held.headers["Retry-After"]) <= 60
        assert all(name in held.headers for name in PROTECTIONS)
        assert served.ask(f"/?token={TOKEN}").status == 429


def test_https_on_this_machines_address(store: Path, tmp_path: Path) -> None:
    address = this_machines_address()
    made = certificate(tmp_path, address)
    args = ["--auth-token", TOKEN, "--tls-cert", str(made.cert), "--tls-key", str(made.key)]
    with serving(store, *args, host=address, tls=made.client) as served:
        assert served.ask("/").status == 401
        page = served.ask("/", Authorization=f"Bearer {TOKEN}")
        assert page.status == 200 and page.headers["Strict-Transport-Security"].startswith("max-age=")
        cookie = served.ask(f"/?token={TOKEN}").headers["Set-Cookie"]
        assert cookie.startswith("__Host-credsight_session=") and "Secure" in cookie and TOKEN not in cookie
        plain = http.client.HTTPConnection(address, served.port, timeout=30)
        with pytest.raises((http.client.HTTPException, ConnectionError)):
            plain.request("GET", "/")
            plain.getresponse().read()
        plain.close()
    assert f"credsight dashboard on https://{address}:{served.port}/" in served.output()


def test_plain_http_beyond_loopback_when_allowed_is_warned(store: Path) -> None:
    address = this_machines_address()
    with serving(store, "--auth-token", TOKEN, "--allow-plain-http", host=address) as served:
        assert served.ask("/").status == 401
        assert served.ask("/", Authorization=f"Bearer {TOKEN}").status == 200
    assert f"warning: serving on {address} over plain HTTP" in served.output()


def test_behind_a_proxy_on_a_unix_socket(store: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "credsight.sock")
    with serving(store, "--trusted-user-header", "X-Forwarded-User", unix_socket=path) as served:
        assert stat.S_IMODE(os.stat(path).st_mode) & 0o007 == 0  # not for other users of the machine
        assert served.ask("/").status == 401  # no user: not through the proxy
        assert served.ask("/", X_Forwarded_User="ana@example.com").status == 200
        assert served.ask("/_dash-layout", X_Forwarded_User="ana@example.com").status == 200


# -- what every response carries -----------------------------------------------------------------


def test_every_response_carries_the_protections_and_compression_is_negotiated(store: Path) -> None:
    with serving(store) as served:
        index = served.ask("/")
        bundles = [b.split('"')[0] for b in index.body.decode().split('<script src="')[1:]]
        sizes = {b: int(served.ask(b, Accept_Encoding="identity").headers["Content-Length"]) for b in bundles}
        largest = max(sizes, key=lambda b: sizes[b])
        responses = {
            "page": index,
            "layout": served.ask("/_dash-layout"),
            "bundle": served.ask(largest),
            "missing asset": served.ask("/assets/nothing.css"),
            "callback": served.ask(
                "/_dash-update-component", "POST", callback_request(served, "/health"), Content_Type="application/json"
            ),
            "logout": served.ask("/logout"),
        }
        assert responses["missing asset"].status == 404
        for what, answer in responses.items():
            assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"], what
            assert answer.headers["X-Content-Type-Options"] == "nosniff", what
            assert answer.headers["X-Frame-Options"] == "DENY", what
            assert answer.headers["Referrer-Policy"] == "no-referrer", what
            assert "Strict-Transport-Security" not in answer.headers, what  # plain HTTP: no HSTS
        plain = served.ask(largest, Accept_Encoding="identity").body
        for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
            packed = served.ask(largest, Accept_Encoding=encoding)
            assert packed.headers["Content-Encoding"] == encoding
            assert decode(packed.body) == plain and len(packed.body) < len(plain) / 3
        assert "Content-Encoding" not in served.ask(largest).headers  # nothing asked, nothing compressed
        body = callback_request(served, "/compliance")
        answer = served.ask(
            "/_dash-update-component", "POST", body, Content_Type="application/json", Accept_Encoding="br"
        )
        assert answer.status == 200 and answer.headers["Content-Encoding"] == "br"
        assert json.loads(brotli.decompress(answer.body))["response"]


def test_requests_are_answered_in_parallel_and_sigterm_lets_them_finish(store: Path) -> None:
    with serving(store) as served:
        body = callback_request(served, "/health")
        held = socket.create_connection((served.host, served.port), timeout=60)
        head = (
            "POST /_dash-update-component HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
        )
        held.sendall(head.encode())
        assert held.recv(100).startswith(b"HTTP/1.1 100 Continue")  # a thread now waits on the body
        assert served.ask("/").status == 200  # ... and another answers meanwhile
        served.process.send_signal(signal.SIGTERM)
        held.sendall(body)
        answer = http.client.HTTPResponse(held)
        answer.begin()
        assert answer.status == 200 and json.loads(answer.read())["response"]
        held.close()
        assert served.process.wait(timeout=60) == 0
        with pytest.raises(OSError):
            socket.create_connection((served.host, served.port), timeout=5).close()


# -- in a browser --------------------------------------------------------------------------------


def test_the_token_link_signs_in_a_browser_and_logout_signs_it_out(store: Path) -> None:
    with serving(store, "--auth-token", TOKEN) as served, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            page.add_init_script(CSP_VIOLATIONS)
            console: list[str] = []
            page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: console.append(str(e)))
            # The link is followed from another site, as from mail or chat (localhost is not 127.0.0.1's site).
            page.goto(f"http://localhost:{served.port}/logout")
            link = f"<a id=link href={served.base}/?token={TOKEN}>x</a>"
            page.evaluate(f"() => document.body.insertAdjacentHTML('beforeend', '{link}')")
            page.click("#link")
            page.wait_for_url(f"{served.base}/", timeout=30_000)  # the token left the address
            page.wait_for_selector("#drawn", state="attached", timeout=30_000)
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)  # figures drawn under the policy
            [cookie] = context.cookies()
            assert cookie["name"] == "credsight_session" and TOKEN not in cookie["value"]
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
            assert page.evaluate("() => document.cookie") == ""  # HttpOnly: out of the page's reach
            moved = page.goto(f"{served.base}/health")
            assert moved is not None and moved.status == 200
            page.wait_for_selector("#drawn", state="attached", timeout=30_000)
            assert page.evaluate("() => window.__csp || []") == [] and console == []
            out = page.goto(f"{served.base}/logout")
            assert out is not None and out.status == 200 and "Signed out" in page.inner_text("body")
            assert context.cookies() == []
            again = page.goto(f"{served.base}/")
            assert again is not None and again.status == 401
        finally:
            browser.close()
