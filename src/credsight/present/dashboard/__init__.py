"""The web dashboard (Dash): `create_app(store)`; pages in pages/, one module each."""

from credsight.present.dashboard.app import create_app

__all__ = ["create_app"]
