"""Who may see the dashboard: anyone on this machine; elsewhere only with a token, a password or a proxy.

- A token is given as `Authorization: Bearer TOKEN`, or once as `?token=TOKEN` in a link: then a
  signed session (sessions.py) goes into an HttpOnly, SameSite=Strict cookie (Secure under TLS)
  and the page moves on to the same address without the token. The cookie never holds the token; /logout ends it.
- Basic auth takes the user and the password from the environment.
- Behind an authenticating proxy (oauth2-proxy, an ALB with OIDC), `trusted_user_header` names
  the header the proxy sets; allowed only where nobody but the proxy can connect.

Secrets are compared in constant time; failed sign-ins are throttled per client address.
"""

from __future__ import annotations

import base64
import hmac
import html
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import flask

from credsight.errors import ServeError
from credsight.present.dashboard.headers import add_headers, compress
from credsight.present.dashboard.sessions import SESSION_SECONDS, FailedSignIns, Sessions

if TYPE_CHECKING:
    import dash

COOKIE = "credsight_session"
TLS_COOKIE = "__Host-credsight_session"  # the __Host- prefix: only over HTTPS, only for this host
LOGOUT_PATH = "/logout"
LOOPBACK_NAMES = ("localhost",)
TOKEN_CHARACTERS = 32
PASSWORD_CHARACTERS = 16
SECRET_CHARACTERS = 32
MAKE_ONE = 'make one with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")  # the server drops headers with underscores
SHOWN_USER_CHARACTERS = 256
NO_ICON = '<link rel=icon href="data:,">'  # a page of its own asks no /favicon.ico (which asks for a sign-in)
TOKEN_HOLDER = "token holder"  # who a token session is, as the page says it


@dataclass(frozen=True)
class Auth:
    """Who may see the dashboard and how they prove it; `tls` when it is served over HTTPS."""

    token: str | None = None
    user: str | None = None
    password: str | None = None
    trusted_user_header: str | None = None
    tls: bool = False
    secret: bytes | None = None  # signs the sessions; a random one is made at start when None
    session_seconds: int = SESSION_SECONDS

    @property
    def enabled(self) -> bool:
        return bool(self.token or (self.user and self.password) or self.trusted_user_header)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`: this machine only. 0.0.0.0 and :: are every address."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: Auth) -> None:
    """Refuse to serve beyond this machine without authentication."""
    if not is_loopback(host) and not auth.enabled:
        raise ServeError(
            f"refusing to serve on {host} without authentication: pass --auth-token (or set "
            "CREDSIGHT_SERVE_TOKEN), or set CREDSIGHT_SERVE_USER and CREDSIGHT_SERVE_PASSWORD; "
            "or serve on 127.0.0.1 and use an SSH tunnel"
        )


def check_serving(host: str | None, auth: Auth, allow_plain_http: bool) -> list[str]:
    """Refuse what would not hold up (a ServeError); the warnings for what is allowed but risky.

    `host` is None for a Unix socket, which only processes of this machine can reach.
    """
    check_secrets(auth)
    if auth.trusted_user_header:
        check_proxy_mode(host, auth)
    if host is None or is_loopback(host):
        return []
    check_bind(host, auth)
    if auth.tls:
        return []
    if not allow_plain_http:
        raise ServeError(
            f"refusing to serve on {host} over plain HTTP: the token or password and every page would cross "
            "the network readable; pass --tls-cert and --tls-key, or --allow-plain-http if a TLS proxy is in front"
        )
    return [
        f"serving on {host} over plain HTTP (--allow-plain-http): the token or password and every page cross the "
        "network unencrypted unless a TLS proxy is in front"
    ]


def check_secrets(auth: Auth) -> None:
    """Refuse secrets short enough to guess, and half a basic-auth pair."""
    if bool(auth.user) != bool(auth.password):
        raise ServeError("set both CREDSIGHT_SERVE_USER and CREDSIGHT_SERVE_PASSWORD for basic auth, or neither")
    for value, name, least in (
        (auth.token, "the token (--auth-token or CREDSIGHT_SERVE_TOKEN)", TOKEN_CHARACTERS),
        (auth.password, "CREDSIGHT_SERVE_PASSWORD", PASSWORD_CHARACTERS),
        (auth.secret.decode(errors="replace") if auth.secret else None, "CREDSIGHT_SERVE_SECRET", SECRET_CHARACTERS),
    ):
        if value is not None and len(value) < least:
            raise ServeError(f"{name} has {len(value)} characters; use at least {least}: {MAKE_ONE}")


def check_proxy_mode(host: str | None, auth: Auth) -> None:
    name = auth.trusted_user_header or ""
    if not HEADER_NAME.fullmatch(name):
        raise ServeError(
            f"--trusted-user-header {name!r} is not a header name: letters, digits and dashes, e.g. X-Forwarded-User"
        )
    if auth.token or auth.user:
        raise ServeError(
            "--trusted-user-header and a token or password both decide who signs in: use the proxy, or the secret"
        )
    if host is not None and not is_loopback(host):
        raise ServeError(
            f"refusing --trusted-user-header on {host}: any client could send the header; serve on 127.0.0.1 "
            "or --unix-socket behind the proxy that sets it"
        )


def harden(app: dash.Dash, auth: Auth) -> None:
    """Everything around the pages of a served dashboard: authentication, headers, compression."""
    protect(app.server, auth)
    add_headers(app, tls=auth.tls)
    compress(app.server)


def signed_in_user() -> str | None:
    """Who the current request is from, as the page shows it; None where nobody signs in (loopback)."""
    return flask.g.get("credsight_user") if flask.has_request_context() else None


def can_sign_out() -> bool:
    """True when the current request holds a session that /logout ends (a token's; basic auth and a
    proxy keep their own sign-in)."""
    return bool(flask.has_request_context() and flask.g.get("credsight_session"))


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected and hmac.compare_digest(given.encode(), expected.encode()))


def _basic(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except ValueError:
        return ("", "")
    return user, password


class _Gate:
    """Asks every request who it is from; keeps the sessions and the count of failed sign-ins."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.cookie = TLS_COOKIE if auth.tls else COOKIE
        secret = auth.secret or secrets.token_bytes(32)
        self.sessions = Sessions(secret, auth.token, auth.session_seconds) if auth.token else None
        self.failures = FailedSignIns()

    def check(self) -> Any:
        request = flask.request
        if request.path == LOGOUT_PATH:
            return None
        if self.auth.trusted_user_header:
            return self._from_proxy(request.headers.get(self.auth.trusted_user_header, "").strip())
        if self.sessions and self.sessions.session_id(request.cookies.get(self.cookie)):
            flask.g.credsight_user, flask.g.credsight_session = TOKEN_HOLDER, True
            return None
        header = request.headers.get("Authorization", "")
        bearer = header[7:] if header.startswith("Bearer ") else None
        linked = request.args.get("token") if self.auth.token else None
        basic = _basic(header) if self.auth.user else None
        address = request.remote_addr or "local"
        presented = bearer is not None or linked is not None or basic is not None
        wait = self.failures.wait_seconds(address) if presented else 0
        if wait:
            response = _plain(429, f"too many failed sign-ins from {address}; try again in {wait} s")
            response.headers["Retry-After"] = str(wait)
            return response
        if _same(bearer, self.auth.token):
            flask.g.credsight_user = TOKEN_HOLDER
            return None
        if _same(linked, self.auth.token):
            return self._start_session()
        if basic and _same(basic[0], self.auth.user) and _same(basic[1], self.auth.password):
            flask.g.credsight_user = basic[0]
            return None
        if presented:
            self.failures.failed(address)
        return self._refuse(session_ended=self.sessions is not None and self.cookie in request.cookies)

    def _from_proxy(self, user: str) -> Any:
        if not user or len(user) > SHOWN_USER_CHARACTERS or not user.isprintable():
            return _plain(401, "no signed-in user came with the request: reach credsight through its sign-in proxy")
        flask.g.credsight_user = user
        return None

    def _start_session(self) -> flask.Response:
        """Keep the sign-in in a cookie and take the token out of the address (the link's filters stay).

        The answer is a page that moves on by itself, not a redirect: a link followed from another
        site (mail, chat) is a cross-site navigation, and a browser keeps SameSite=Strict cookies
        out of it, redirects included; the page's own move is same-site, so the cookie goes along.
        """
        request = flask.request
        kept = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
        path = "/" + (request.script_root + request.path).lstrip("/")  # never //host: stays on this site
        target = html.escape(quote(path) + (f"?{kept}" if kept else ""), quote=True)
        page = (
            f'<!DOCTYPE html><html lang=en><meta http-equiv="refresh" content="0; url={target}">'
            f'<title>credsight</title>{NO_ICON}<p>Signed in. <a id=continue href="{target}">Continue</a></p></html>'
        )
        response = flask.Response(page, mimetype="text/html")
        assert self.sessions is not None
        response.set_cookie(
            self.cookie,
            self.sessions.issue(),
            max_age=self.auth.session_seconds,
            path="/",
            secure=self.auth.tls,
            httponly=True,
            samesite="Strict",
        )
        return response

    def _refuse(self, session_ended: bool) -> flask.Response:
        if session_ended:
            response = _plain(401, "the session has ended: open the link with the token again")
            self._forget_cookie(response)
        elif self.auth.token:
            response = _plain(401, "authentication required: open the link with ?token=..., or send a Bearer token")
        else:
            response = _plain(401, "authentication required")
        if self.auth.user:
            response.headers["WWW-Authenticate"] = 'Basic realm="credsight", charset="UTF-8"'
        return response

    def _forget_cookie(self, response: flask.Response) -> None:
        response.delete_cookie(self.cookie, path="/", secure=self.auth.tls, httponly=True, samesite="Strict")

    def logout(self) -> flask.Response:
        if self.sessions:
            self.sessions.revoke(flask.request.cookies.get(self.cookie))
        if self.auth.trusted_user_header:
            said = "Signed out of credsight here; your sign-in proxy keeps its own session: sign out there too."
        elif self.auth.token:
            said = "Signed out of credsight. To come back, open the link with the token again."
        else:
            said = "Nothing to sign out of: this dashboard asks for no sign-in, or your browser holds the password."
        page = f"<!DOCTYPE html><html lang=en><title>credsight: signed out</title>{NO_ICON}<p id=signed-out>{said}</p>"
        response = flask.Response(page, mimetype="text/html")
        self._forget_cookie(response)
        return response


def _plain(status: int, text: str) -> flask.Response:
    return flask.Response(text + "\n", status=status, mimetype="text/plain")


def protect(server: flask.Flask, auth: Auth) -> None:
    """Ask every request for the token, the password or the proxy's user; serve /logout."""
    gate = _Gate(auth)
    server.add_url_rule(LOGOUT_PATH, "credsight_logout", gate.logout)
    if auth.enabled:
        server.before_request(gate.check)
