"""Packing a directory for a source deploy honours .dockerignore."""

from __future__ import annotations

import tarfile
from pathlib import Path

from berth_cli.packing import is_ignored, pack, parse_dockerignore


def test_patterns_directories_and_exceptions() -> None:
    rules = parse_dockerignore("# deps\nnode_modules\n*.log\n!keep.log\n**/__pycache__\n/build\n")
    assert is_ignored("node_modules/x/index.js", rules)
    assert is_ignored("debug.log", rules)
    assert not is_ignored("keep.log", rules)
    assert is_ignored("src/pkg/__pycache__/m.pyc", rules)
    assert is_ignored("build/out.bin", rules)
    assert not is_ignored("src/build.py", rules)
    assert not is_ignored("src/app.py", rules)


def test_single_star_does_not_cross_directories() -> None:
    rules = parse_dockerignore("docs/*.md\n")
    assert is_ignored("docs/a.md", rules)
    assert not is_ignored("docs/sub/a.md", rules)


def test_pack_skips_ignored_files_but_keeps_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("secrets\nDockerfile\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key").write_text("nope")
    (tmp_path / "app.txt").write_text("yes")
    archive, size, count = pack(tmp_path)
    with archive, tarfile.open(fileobj=archive, mode="r:gz") as tar:
        names = sorted(tar.getnames())
    assert names == [".dockerignore", "Dockerfile", "app.txt"]
    assert count == 3 and size > 0
