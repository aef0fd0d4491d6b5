"""Property-based fuzzing of the live API with schemathesis, against the OpenAPI schema it
serves to token holders: no 5xx, every status code and error body documented, every constraint
the API enforces stated in the schema (schema-valid input accepted, invalid input rejected), 405s
with the right Allow header and Berth's error shape — all of schemathesis's default checks.

The platform is its own (fuzzing leaves junk apps behind). Left out are the operations whose
generated input would make the platform reach outside this machine (webhook creation and so
deliveries, deploys of arbitrary image names = registry pulls, builds of arbitrary Dockerfiles,
domain attachment and its verification) and those that rotate keys or tokens or sign in with
guessed tokens (each one a failed authentication that the lockout counts)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform

pytestmark = pytest.mark.e2e

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
MAX_EXAMPLES = 15  # per operation and phase; the whole run takes about two minutes here

EXCLUDED = [
    ("POST", "/api/webhooks"),  # deliveries to generated URLs
    ("POST", "/api/apps/{ref}/deploy"),  # pulls generated image names
    ("POST", "/api/apps/{ref}/builds"),  # builds generated Dockerfiles (RUN, FROM pulls)
    ("POST", "/api/apps/{ref}/domains"),  # verification asks DNS and fetches the name
    ("POST", "/api/secrets/rotate-key"),
    ("POST", "/api/tokens/rotate"),
    ("DELETE", "/api/tokens/{token_id}"),  # could revoke the token the run uses
    ("POST", "/api/session"),  # signs in with guessed tokens: the lockout would answer 429
]


@pytest.fixture(scope="module")
def fuzz_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-fuzz"))
    try:
        yield p
    finally:
        stop_platform(p)


def exclusion_args() -> list[str]:
    return [arg for method, path in EXCLUDED for arg in ("--exclude-name", f"{method} {path}")]


@pytest.mark.timeout(900)
def test_the_api_holds_to_its_schema_under_fuzzing(fuzz_platform: RunningPlatform, tmp_path: Path) -> None:
    argv = [
        SCHEMATHESIS,
        "--config-file",
        str(CONFIG),
        "run",
        f"{fuzz_platform.base}/api/openapi.json",
        "--url",
        fuzz_platform.base,
        "-H",
        f"Authorization: Bearer {fuzz_platform.token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        "13",
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *exclusion_args(),
    ]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=840)
    (tmp_path / "schemathesis.out").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
