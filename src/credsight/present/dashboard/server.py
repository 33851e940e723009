"""The production server: gunicorn, embedded, one worker process answering with threads.

gunicorn's arbiter binds the address (TCP or a Unix socket, TLS when given a certificate), forks
one `gthread` worker that builds the app (so nothing of DuckDB is shared across the fork) and
answers `threads` requests at once; SIGTERM stops it gracefully: no new connections, the
requests in flight are answered, exit code 0. The access log leaves the token out of the URLs.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import ssl
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn import glogging  # type: ignore[import-untyped]
from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from credsight.errors import ServeError

GRACEFUL_SECONDS = 30  # how long SIGTERM waits for the requests in flight
LONGEST_REQUEST_LINE = 8190  # gunicorn's largest; a filter link naming hundreds of accounts is long
UNIX_SOCKET_UMASK = 0o007  # the socket for its owner and group (put the proxy's user in the group)
TOKEN_IN_QUERY = re.compile(r"(?i)(^|&)(token=)[^&]*")


@dataclass(frozen=True)
class Listen:
    """Where and how to serve: a TCP host and port or a Unix socket; TLS with a certificate."""

    host: str = "127.0.0.1"
    port: int = 8050
    unix_socket: str | None = None
    threads: int = 8  # more answer 8 sessions at once sooner, for more memory (BENCHMARKS.md)
    tls_cert: str | None = None
    tls_key: str | None = None
    access_log: str | None = None  # a file, "-" for stderr, None for none

    @property
    def bind(self) -> str:
        if self.unix_socket:
            return f"unix:{self.unix_socket}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        if self.unix_socket:
            return f"unix:{self.unix_socket}"
        scheme = "https" if self.tls_cert else "http"
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{shown}:{self.port}/"


def check_listen(listen: Listen) -> None:
    """Refuse, in one line each, what would make gunicorn fail later or retry for seconds."""
    if bool(listen.tls_cert) != bool(listen.tls_key):
        raise ServeError("give both --tls-cert and --tls-key to serve HTTPS, or neither")
    if listen.tls_cert and listen.tls_key:
        check_certificate(listen.tls_cert, listen.tls_key)
    if listen.access_log and listen.access_log != "-":
        try:
            with open(listen.access_log, "a", encoding="utf-8"):
                pass
        except OSError as e:
            raise ServeError(
                f"cannot write the access log {listen.access_log}: {e.strerror}; give a writable file or -"
            ) from None
    if listen.unix_socket:
        check_unix_socket(Path(listen.unix_socket))
    else:
        check_address(listen.host, listen.port)


def check_certificate(cert: str, key: str) -> None:
    for path, flag in ((cert, "--tls-cert"), (key, "--tls-key")):
        if not os.access(path, os.R_OK) or not os.path.isfile(path):
            raise ServeError(f"{flag} {path}: no readable file there; give the PEM file's path")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as e:
        raise ServeError(
            f"--tls-cert {cert} and --tls-key {key} are not a certificate and its private key in PEM ({e.reason}); "
            "give the pair the certificate authority issued"
        ) from None


def check_unix_socket(path: Path) -> None:
    if not path.parent.is_dir():
        raise ServeError(f"--unix-socket {path}: the folder {path.parent} does not exist")
    if path.exists() and not stat.S_ISSOCK(path.stat().st_mode):
        raise ServeError(
            f"--unix-socket {path}: a file that is not a socket is there; remove it or choose another path"
        )


def check_address(host: str, port: int) -> None:
    """Bind the address for a moment, as gunicorn will: in use, or not this machine's, is said now."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as gunicorn picks it
        found = socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise ServeError(f"--host {host}: no such address or name") from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ServeError(f"port {port} on {host} is in use (another credsight serve?); pass --port") from None
            if e.errno == errno.EADDRNOTAVAIL:
                raise ServeError(f"--host {host} is not an address of this machine; pass one of its own") from None
            raise ServeError(f"cannot listen on {host} port {port}: {e.strerror}") from None


def redact(query: str) -> str:
    """A query string with the value of `token` replaced: access logs are read by many."""
    return TOKEN_IN_QUERY.sub(r"\1\2[redacted]", query)


class AccessLog(glogging.Logger):  # type: ignore[misc]
    """gunicorn's logger, with `?token=` taken out of what the access log writes."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        query = environ.get("QUERY_STRING") or ""
        if "token=" in query.lower():
            atoms["q"] = redact(query)
            path = environ.get("PATH_INFO") or ""
            atoms["r"] = f"{environ['REQUEST_METHOD']} {path}?{atoms['q']} {environ['SERVER_PROTOCOL']}"
        return atoms


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, build: Callable[[], Any], options: dict[str, Any]) -> None:
        self.build, self.options = build, options
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.options.items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        return self.build()


def run(build: Callable[[], Any], listen: Listen, on_ready: Callable[[], None] = lambda: None) -> None:
    """Serve the WSGI app that `build()` makes (called in the worker) until SIGTERM or Ctrl-C.

    `on_ready` runs once the address is bound, before the worker starts answering.
    """
    options: dict[str, Any] = {
        "bind": [listen.bind],
        "workers": 1,
        "worker_class": "gthread",
        "threads": listen.threads,
        "graceful_timeout": GRACEFUL_SECONDS,
        "keepalive": 5,
        "limit_request_line": LONGEST_REQUEST_LINE,
        "accesslog": listen.access_log,
        "errorlog": "-",
        "loglevel": "warning",
        "logger_class": AccessLog,
        "proc_name": "credsight-serve",
        "control_socket_disable": True,  # gunicorn 25's runtime control socket: not wanted here
        "when_ready": lambda _arbiter: on_ready(),
    }
    if listen.unix_socket:
        options["umask"] = UNIX_SOCKET_UMASK
    if listen.tls_cert:
        options.update(certfile=listen.tls_cert, keyfile=listen.tls_key)
    _Gunicorn(build, options).run()
