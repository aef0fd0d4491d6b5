"""The `berth` command: runs the platform (`berth up`) and drives it over the HTTP API."""
