"""Berth's logs service: keeps app log lines in its own schema."""
