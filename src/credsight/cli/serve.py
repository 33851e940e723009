"""`credsight serve`: the web dashboard over the store, on this machine unless told otherwise.

It runs on gunicorn (present/dashboard/server.py): one process, threads, TLS when given a
certificate, a graceful stop on SIGTERM. Beyond loopback it asks for authentication that holds
up and for TLS (present/dashboard/security.py); every check is made before the server starts, so
a mistake is a one-line error, not a server that fails later.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from credsight.cli.arguments import (
    DEFAULT_STORE,
    EndpointOption,
    ExceptionsOption,
    StoreOption,
    open_store,
    split_values,
)

if TYPE_CHECKING:
    from pathlib import Path

    from credsight.store import Store

HostOption = Annotated[
    str,
    typer.Option(help="Address to listen on; beyond 127.0.0.1, ::1 and localhost authentication and TLS are asked."),
]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        envvar="CREDSIGHT_SERVE_TOKEN",
        help="Token asked of every request (at least 32 characters). [env: CREDSIGHT_SERVE_TOKEN]",
    ),
]
USER_VARIABLE, PASSWORD_VARIABLE = "CREDSIGHT_SERVE_USER", "CREDSIGHT_SERVE_PASSWORD"
SECRET_VARIABLE = "CREDSIGHT_SERVE_SECRET"  # signs the session cookies; set it to keep sessions across restarts


def serve(
    store: StoreOption = DEFAULT_STORE,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8050,
    unix_socket: Annotated[
        str | None, typer.Option(help="Listen on this Unix socket instead of a TCP port (for a proxy on this machine).")
    ] = None,
    threads: Annotated[int, typer.Option(min=1, max=256, help="Requests answered at once.")] = 8,
    auth_token: TokenOption = None,
    tls_cert: Annotated[
        str | None, typer.Option(help="Serve HTTPS with this certificate (PEM, the chain after it).")
    ] = None,
    tls_key: Annotated[str | None, typer.Option(help="The certificate's private key (PEM).")] = None,
    allow_plain_http: Annotated[
        bool,
        typer.Option(
            "--allow-plain-http",
            help="Serve beyond loopback without TLS (only behind a TLS proxy): warned, not refused.",
        ),
    ] = False,
    trusted_user_header: Annotated[
        str | None,
        typer.Option(help="Take the signed-in user from this header, set by an authenticating proxy (loopback only)."),
    ] = None,
    access_log: Annotated[str | None, typer.Option(help="Write an access log to this file ('-': stderr).")] = None,
    allowed_regions: Annotated[
        list[str] | None, typer.Option(help="Regions keys may be used in; others are listed on /regions.")
    ] = None,
    exceptions: ExceptionsOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Serve the web dashboard over the store (on 127.0.0.1:8050 unless told otherwise)."""
    serve_dashboard(
        open_store(store, endpoint_url),
        host,
        port,
        auth_token,
        allowed_regions,
        exceptions,
        unix_socket=unix_socket,
        threads=threads,
        tls_cert=tls_cert,
        tls_key=tls_key,
        allow_plain_http=allow_plain_http,
        trusted_user_header=trusted_user_header,
        access_log=access_log,
    )


def serve_dashboard(
    target: Store,
    host: str,
    port: int,
    auth_token: str | None,
    allowed_regions: list[str] | None = None,
    exceptions: Path | None = None,
    *,
    unix_socket: str | None = None,
    threads: int = 8,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    allow_plain_http: bool = False,
    trusted_user_header: str | None = None,
    access_log: str | None = None,
) -> None:
    """Check everything, then serve until SIGTERM or Ctrl-C."""
    from credsight.config import section
    from credsight.present.dashboard import create_app
    from credsight.present.dashboard.security import Auth, check_serving
    from credsight.present.dashboard.server import Listen, check_listen, run
    from credsight.rules.exceptions import accepted_risks
    from credsight.rules.matching import people_settings

    listen = Listen(
        host=host,
        port=port,
        unix_socket=unix_socket,
        threads=threads,
        tls_cert=tls_cert,
        tls_key=tls_key,
        access_log=access_log,
    )
    secret = os.environ.get(SECRET_VARIABLE)
    auth = Auth(
        token=auth_token,
        user=os.environ.get(USER_VARIABLE),
        password=os.environ.get(PASSWORD_VARIABLE),
        trusted_user_header=trusted_user_header,
        tls=bool(listen.tls_cert or listen.tls_key),
        secret=secret.encode() if secret else None,
    )
    warnings = check_serving(None if listen.unix_socket else host, auth, allow_plain_http)
    check_listen(listen)
    regions = split_values(allowed_regions)
    risks = accepted_risks(exceptions)  # a bad file is a one-line error now, not a failed click later
    people = people_settings(section("people"))  # [people] of credsight.toml: /migration's matching rules
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)

    def ready() -> None:
        typer.echo(f"credsight dashboard on {listen.url} (Ctrl-C stops it)")

    def warmed(message: str) -> None:
        typer.echo(f"credsight dashboard: {message}")

    run(lambda: create_app(target, auth, risks, regions, people, warmed).server, listen, on_ready=ready)
