"""The small HTML pages Berth answers with when it cannot hand a request to an app."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:15vh auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}}p{{color:#555}}</style></head>
<body><h1>{title}</h1><p>{detail}</p><p><small>Served by Berth</small></p></body></html>
"""


def page(title: str, detail: str) -> str:
    return _PAGE.format(title=escape(title), detail=escape(detail))


def not_found_page() -> str:
    return page("404 · No app here", "Berth has no app on this host name.")


def no_release_page(app_name: str) -> str:
    return page(
        f"503 · {app_name} has no running release",
        f"{app_name} is not serving right now: it has no live release yet, or every instance is down. "
        "Try again in a moment.",
    )


def no_instance_page(app_name: str) -> str:
    return page(
        f"503 · {app_name} has no web instance",
        f"{app_name} runs no web instance right now (its web process is scaled to 0).",
    )
