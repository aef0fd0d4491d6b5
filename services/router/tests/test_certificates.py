"""Certificates as Caddy stores them: found by hostname under any issuer's directory."""

from __future__ import annotations

from pathlib import Path

from berth_router.certificates import has_certificate, storage_root


def test_a_certificate_is_found_in_caddys_storage_by_any_issuer(tmp_path: Path) -> None:
    root = storage_root(tmp_path)
    assert not has_certificate(root, "www.example.test")
    crt = root / "acme-v02.api.letsencrypt.org-directory" / "www.example.test" / "www.example.test.crt"
    crt.parent.mkdir(parents=True)
    crt.write_text("-----BEGIN CERTIFICATE-----")
    assert has_certificate(root, "www.example.test")
    assert not has_certificate(root, "other.example.test")
    assert root == tmp_path / "caddy/data/caddy/certificates"
