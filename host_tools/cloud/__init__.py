"""`tempnode cloud`: the local dev cloud (OAuth2 server, ingest API, faults, dashboard)."""

from .command import register

__all__ = ["register"]
