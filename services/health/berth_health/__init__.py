"""Berth's health service: keeps the history of app health checks in its own schema."""
