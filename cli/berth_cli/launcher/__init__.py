"""Starts and supervises Berth on one host: NATS, Postgres, Caddy and the five services.

The same code runs under `berth up` and under the test fixtures.
"""
