"""Applies ``DomainStatusChanged`` from the router (``berth.evt.router.domain.<app>``) through
:mod:`berth_api.domain_status_store`, which the domain resync uses too."""

from __future__ import annotations

from berth_api.domain_status_store import apply

__all__ = ["apply"]
