"""Berth's API gateway: the HTTP API, auth, and the only writer of desired state."""
