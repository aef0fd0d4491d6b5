"""Cron jobs: schedules (pure), and the API's scheduler of due runs (ADR 0026)."""
