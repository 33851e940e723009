"""What every response of the dashboard carries: a Content-Security-Policy and the other browser
protections, and compression (flask-compress) for the bundles and the callbacks.

The policy allows scripts from this origin only, plus the inline scripts Dash writes into its page
by their SHA-256 hashes (`Dash.csp_hashes()`: the renderer's start and any inline clientside
callback). Hashes rather than nonces: the inline scripts are the same in every response, so the
page needs no rewriting per request. Dash's config block is `type="application/json"`, which
is data, not a script, and needs nothing. Styles may be inline: plotly, dash-ag-grid and React
set them from script, and the page has its own <style>.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import flask
from flask_compress import Compress

if TYPE_CHECKING:
    import dash

HSTS = "max-age=31536000"  # a year; only sent over TLS (browsers ignore it over plain HTTP anyway)
ASSETS = "/_dash-component-suites/"  # Dash's bundles: fixed for the life of the process
VENDOR = "/assets/vendor/"  # the files credsight ships as they are (plotly.js's cartesian bundle): fixed too
FIXED = (ASSETS, VENDOR)
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def content_security_policy(script_hashes: list[str]) -> str:
    """The policy for the dashboard: this origin only, no framing, no inline script but Dash's own."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],  # dash-ag-grid's icons, plotly's images
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def add_headers(app: dash.Dash, tls: bool) -> None:
    """Put the policy and the protections on every response: pages, callbacks, assets and errors."""

    def protections(response: flask.Response) -> flask.Response:
        # Hashed per response: cheap, and right even for inline scripts added after the app was built.
        response.headers["Content-Security-Policy"] = content_security_policy(list(app.csp_hashes()))
        for name, value in FIXED_HEADERS.items():
            response.headers[name] = value
        if tls:
            response.headers["Strict-Transport-Security"] = HSTS
        if "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"  # credential data stays out of shared caches
        return response

    app.server.after_request(protections)


class AssetCache:
    """flask-compress's cache, kept for the fixed bundles only (each compressed once, not per request: plotly.js
    takes 35 ms to compress)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        if any(f";{fixed}" in key for fixed in FIXED):  # keys are "<algorithm>;<asset_key(request)>"
            self.data[key] = value


def asset_key(request: flask.Request) -> str:
    """The path of a bundle (the same bytes every time), or a key the cache never keeps."""
    return request.path if request.method == "GET" and request.path.startswith(FIXED) else "-"


def compress(server: flask.Flask, make_cache: Callable[[], AssetCache] = AssetCache) -> None:
    """Brotli or gzip, as the browser asks, for the bundles, the pages and the callbacks' JSON."""
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_CACHE_BACKEND=make_cache,
        COMPRESS_CACHE_KEY=asset_key,
    )
    Compress(server)
