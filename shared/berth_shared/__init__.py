"""Berth's contracts package: everything two services must agree on lives here."""
