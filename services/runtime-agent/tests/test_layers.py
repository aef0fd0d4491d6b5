"""The agent's layout holds (ADR 0022): a ``decide*`` module is pure (it imports no I/O library
and no ``run*``/``store`` module or the loop), handlers (``consumers/``, ``responders/``) import
no handler, and nothing below them imports a handler or the wiring. Read from the source, so a
new cross-import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import berth_agent

PACKAGE = Path(berth_agent.__file__).parent
HANDLER_PACKAGES = ("berth_agent.consumers.", "berth_agent.responders.")
WIRING = frozenset({"berth_agent.service", "berth_agent.__main__"})
IO_LIBRARIES = ("aiodocker", "asyncpg", "nats", "aiohttp", "httpx", "subprocess", "socket", "asyncio")
DOING = ("berth_agent.loop", "berth_agent.executor", "berth_agent.observe", "berth_agent.publisher")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("berth_agent", *parts)).removesuffix(".__init__")


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(name: str) -> set[str]:
    """Every module ``name`` imports (``from berth_agent.x import y`` counts as ``x.y`` when it is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found - {name}


def is_decide(name: str) -> bool:
    return name.rsplit(".", 1)[-1].startswith("decide")


def does_io(target: str) -> bool:
    last = target.rsplit(".", 1)[-1]
    in_agent = target.startswith("berth_agent.")
    return (
        target.split(".", maxsplit=1)[0] in IO_LIBRARIES
        or (in_agent and (last.startswith("run") or last == "store"))
        or target.startswith(DOING)
    )


def is_handler(name: str) -> bool:
    return name.startswith(HANDLER_PACKAGES)


def test_decide_modules_do_no_io() -> None:
    impure = sorted(f"{name} -> {t}" for name in MODULES if is_decide(name) for t in imports_of(name) if does_io(t))
    assert impure == []


def test_handlers_import_no_handler_and_nothing_below_imports_them() -> None:
    crossings = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if name not in WIRING
        for target in imports_of(name)
        if (is_handler(target) and target != name) or target in WIRING
    )
    assert crossings == []


def test_the_check_sees_the_imports_it_guards() -> None:
    # The wiring imports the handlers, run modules import their decisions: the graph is read at all.
    assert "berth_agent.consumers.commands" in imports_of("berth_agent.service")
    assert "berth_agent.drain.decide" in imports_of("berth_agent.drain.run")
    assert does_io("berth_agent.images.run") and does_io("aiodocker") and not does_io("berth_agent.images.decide")
    assert sum(is_decide(name) for name in MODULES) >= 11
