"""Berth's router: a routes table of its own, rendered into the whole Caddy config."""
