"""Berth's runtime agent: converges one Docker host on the desired state the API publishes."""
