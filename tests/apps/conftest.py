"""The realistic test app's images (tests/support/python_app.py)."""

from __future__ import annotations

from python_app import pyapp_images

__all__ = ["pyapp_images"]
