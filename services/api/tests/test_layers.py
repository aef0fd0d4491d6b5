"""The API's modules import only from below them: handlers (routes, bus consumers, bus
responders) never import each other, and nothing under them imports a handler or the wiring
(``service``, ``app``). Read from the source, so a new cross-import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import berth_api

PACKAGE = Path(berth_api.__file__).parent
HANDLER_PACKAGES = ("berth_api.routes.", "berth_api.consumers.", "berth_api.responders.")
WIRING = frozenset({"berth_api.service", "berth_api.app", "berth_api.__main__"})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    name = ".".join(("berth_api", *parts))
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """The berth_api modules ``name`` imports (``from berth_api import x`` counts as ``x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("berth_api"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("berth_api"))
    return found - {name}


def is_handler(name: str) -> bool:
    return name.startswith(HANDLER_PACKAGES)


def test_handlers_import_no_handler() -> None:
    crossings = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if is_handler(name)
        for target in imports_of(name)
        if is_handler(target) or target in WIRING
    )
    assert crossings == []


def test_nothing_below_the_handlers_imports_them() -> None:
    upward = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if not is_handler(name) and name not in WIRING
        for target in imports_of(name)
        if is_handler(target) or target in WIRING
    )
    assert upward == []


def test_the_check_sees_the_imports_it_guards() -> None:
    # The wiring imports handlers, and handlers import the stores: the graph is read at all.
    assert "berth_api.consumers.release_events" in imports_of("berth_api.service")
    assert "berth_api.apps_store" in imports_of("berth_api.routes.apps")
