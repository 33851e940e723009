"""Who may see the dashboard: anyone on this machine; elsewhere only with a token or a password.

A token is given as `Authorization: Bearer TOKEN`, or once as `?token=TOKEN` (then kept in an
HttpOnly cookie). Basic auth takes the user and password from the environment.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import flask

from credsight.errors import ServeError

COOKIE = "credsight_token"
LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class Auth:
    token: str | None = None
    user: str | None = None
    password: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.token or (self.user and self.password))


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
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


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected and hmac.compare_digest(given.encode(), expected.encode()))


def protect(server: flask.Flask, auth: Auth) -> None:
    """Ask every request for the token or the password."""
    if not auth.enabled:
        return

    @server.before_request
    def require() -> Any:
        request = flask.request
        header = request.headers.get("Authorization", "")
        if auth.token:
            bearer = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
            if _same(bearer, auth.token) or _same(request.cookies.get(COOKIE), auth.token):
                return None
            if _same(request.args.get("token"), auth.token):
                kept = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
                response = flask.redirect(request.path + (f"?{kept}" if kept else ""))  # the link's filters stay
                response.set_cookie(COOKIE, auth.token, httponly=True, samesite="Strict")
                return response
        if auth.user and header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if _same(user, auth.user) and _same(password, auth.password):
                return None
        response = flask.Response("authentication required\n", status=401, mimetype="text/plain")
        if auth.user:
            response.headers["WWW-Authenticate"] = 'Basic realm="credsight"'
        return response
