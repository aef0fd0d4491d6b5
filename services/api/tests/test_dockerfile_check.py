"""ADD <url> is found however the Dockerfile spells it; local ADD/COPY and RUN downloads are fine."""

from __future__ import annotations

from berth_api.dockerfile_check import remote_adds


def sources(text: str) -> list[tuple[int, str]]:
    return [(r.line, r.source) for r in remote_adds(text)]


def test_plain_add_url_is_found_with_its_line() -> None:
    text = "FROM python:3.12\nADD https://example.com/x.tgz /opt/\nRUN echo hi\n"
    assert sources(text) == [(2, "https://example.com/x.tgz")]


def test_lowercase_flags_checksum_and_http() -> None:
    text = "FROM x\nadd --checksum=sha256:abc --chown=1:1 http://169.254.169.254/latest/meta-data/ /m\n"
    assert sources(text) == [(2, "http://169.254.169.254/latest/meta-data/")]


def test_line_continuations_and_comments_inside_them() -> None:
    text = "FROM x\nRUN true\nADD \\\n# a comment inside\n   HTTP://10.0.0.1/secret \\\n   /dest\n"
    assert sources(text) == [(3, "HTTP://10.0.0.1/secret")]


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM x\nADD `\n  https://example.com/a `\n  C:/dest\n"
    assert sources(text) == [(3, "https://example.com/a")]


def test_json_form_and_several_sources() -> None:
    text = 'FROM x\nADD ["local.txt", "ftp://example.com/f", "/dest/"]\n'
    assert sources(text) == [(2, "ftp://example.com/f")]


def test_variables_from_arg_and_env_defaults() -> None:
    text = (
        "FROM x\nARG HOST=169.254.169.254\nENV SCHEME http\n"
        "ADD ${SCHEME}://$HOST/latest /m\nADD ${UNSET:-https://example.com/d} /d\n"
    )
    assert sources(text) == [(4, "http://169.254.169.254/latest"), (5, "https://example.com/d")]


def test_onbuild_add_url_and_git_sources() -> None:
    text = "FROM x\nONBUILD ADD https://example.com/late /l\nADD git@github.com:o/r.git /src\n"
    assert sources(text) == [(2, "https://example.com/late"), (3, "git@github.com:o/r.git")]


def test_local_adds_copies_and_run_downloads_are_allowed() -> None:
    text = (
        "FROM x\nADD app.tar.gz /app/\nCOPY https-notes.txt /n\nADD --chown=1:1 src/ /src/\n"
        "RUN wget https://example.com/x && pip install -r requirements.txt\n"
        "COPY --from=builder /out /out\n"
    )
    assert sources(text) == []


def test_message_names_the_line_and_the_way_out() -> None:
    (found,) = remote_adds("FROM x\nADD https://example.com/x /x\n")
    assert found.message().startswith("line 2: ADD https://example.com/x is refused")
    assert "RUN step" in found.message()
