"""`credsight serve`: the web dashboard over the store, on this machine unless told otherwise."""

from __future__ import annotations

import os
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

HostOption = Annotated[str, typer.Option(help="Address to listen on; beyond 127.0.0.1 authentication is required.")]
PortOption = Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")]
TokenOption = Annotated[
    str | None,
    typer.Option(envvar="CREDSIGHT_SERVE_TOKEN", help="Token asked of every request. [env: CREDSIGHT_SERVE_TOKEN]"),
]


def serve(
    store: StoreOption = DEFAULT_STORE,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8050,
    auth_token: TokenOption = None,
    allowed_regions: Annotated[
        list[str] | None, typer.Option(help="Regions keys may be used in; others are listed on /regions.")
    ] = None,
    exceptions: ExceptionsOption = None,
    endpoint_url: EndpointOption = None,
) -> None:
    """Serve the web dashboard over the store (on 127.0.0.1:8050 unless told otherwise)."""
    serve_dashboard(open_store(store, endpoint_url), host, port, auth_token, allowed_regions, exceptions)


def serve_dashboard(
    target: Store,
    host: str,
    port: int,
    auth_token: str | None,
    allowed_regions: list[str] | None = None,
    exceptions: Path | None = None,
) -> None:
    from credsight.present.dashboard import create_app
    from credsight.present.dashboard.security import Auth, check_bind
    from credsight.rules.exceptions import accepted_risks

    auth = Auth(auth_token, os.environ.get("CREDSIGHT_SERVE_USER"), os.environ.get("CREDSIGHT_SERVE_PASSWORD"))
    check_bind(host, auth)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"credsight dashboard on http://{shown}:{port}/ (Ctrl-C stops it)")
    regions = split_values(allowed_regions)
    risks = accepted_risks(exceptions)  # a bad file is a one-line error now, not a failed click later
    create_app(target, auth, risks, regions).run(host=host, port=port, debug=False)
