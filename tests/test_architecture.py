"""The layout's rules, read from the source: the arrows run widgets -> client -> protocol <-
server -> engine, no module takes a private name from another, and no file grows past 500
lines. Each rule is also run on a small bad example, so a checker that finds nothing fails."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "qwidgets"
MAX_LINES = 500

# The most specific prefix wins: qwidgets.sim.engine has its own, stricter rule.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "qwidgets.protocol": ("qwidgets.sim", "qwidgets.client", "qwidgets.widgets", "aiohttp"),
    "qwidgets.sim.engine": ("qwidgets.sim.server", "qwidgets.sim.braket",
                            "qwidgets.sim.federated", "qwidgets.client", "qwidgets.widgets",
                            "aiohttp"),
    "qwidgets.sim": ("qwidgets.client", "qwidgets.widgets"),
    "qwidgets.client": ("qwidgets.sim", "qwidgets.widgets"),
    "qwidgets.widgets": ("qwidgets.sim", "aiohttp"),
}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    problem: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.problem}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported(module: str, is_package: bool, tree: ast.AST) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every import, wherever it stands (lazy ones included), and
    every ``importlib.import_module("literal")``."""
    found: list[tuple[int, str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            found += [(node.lineno, source, alias.name) for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value, None))
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _rule(module: str) -> tuple[str, ...]:
    owners = [prefix for prefix in FORBIDDEN if module == prefix or module.startswith(prefix + ".")]
    return FORBIDDEN[max(owners, key=len)] if owners else ()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _own_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines itself: functions, classes, attributes it assigns."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if _private(name)}


def check_source(module: str, source: str, is_package: bool = False) -> list[Violation]:
    tree = ast.parse(source)
    out: list[Violation] = []
    forbidden = _rule(module)
    for line, source_module, name in imported(module, is_package, tree):
        targets = [source_module] + ([f"{source_module}.{name}"] if name else [])
        for prefix in forbidden:
            if any(_within(target, prefix) for target in targets):
                out.append(Violation(module, line, f"imports {targets[-1]} ({prefix} is across "
                                     "the arrows widgets -> client -> protocol <- server -> engine)"))
                break
        if _within(source_module, "qwidgets") and (
                any(_private(part) for part in source_module.split("."))
                or (name is not None and _private(name))):
            out.append(Violation(module, line, f"takes the private name "
                                 f"{source_module}{'.' + name if name else ''}"))
    own = _own_private_names(tree)
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append(Violation(module, node.lineno, f"reaches into another module's private "
                                 f"attribute .{node.attr}"))
    return out


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_checker_finds_what_it_forbids() -> None:
    bad = (
        "import aiohttp\n"
        "from qwidgets.sim.server import store\n"
        "from qwidgets.client.http import _decode_error\n"
        "def f(server):\n"
        "    from qwidgets.sim import engine\n"
        "    return server._conn\n"
    )
    problems = [str(v) for v in check_source("qwidgets.protocol.example", bad)]
    assert len(problems) == 6, problems  # the client import breaks both rules
    assert any("aiohttp" in p for p in problems)
    assert any("qwidgets.sim.engine" in p for p in problems)
    assert any("_decode_error" in p for p in problems)
    assert any("._conn" in p for p in problems)
    # the engine may not reach the server, even through a relative import
    assert check_source("qwidgets.sim.engine.x", "from ..server import store\n")
    # but the server may use the engine and the protocol, and a module its own privates
    ok = ("from qwidgets.sim import engine\nfrom qwidgets.protocol import params\n"
          "class A:\n    def __init__(self):\n        self._x = 1\n"
          "def g(a: A):\n    return a._x\n")
    assert check_source("qwidgets.sim.server.x", ok) == []


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_arrows_and_privates_stay_home(path: Path) -> None:
    problems = check_source(module_name(path), path.read_text(), path.name == "__init__.py")
    assert not problems, "\n".join(map(str, problems))


def test_no_file_is_over_500_lines() -> None:
    sources = [*package_modules(), *sorted((ROOT / "js" / "src").rglob("*.ts"))]
    assert sources
    long = {str(p.relative_to(ROOT)): n for p in sources
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by what they hold: {long}"


def test_docs_cite_only_what_is_in_the_repository() -> None:
    """What code relies on lives in docs/: ``shared/`` is not part of the repository."""
    cited = [f"{p.relative_to(ROOT)}:{i}" for p in [*package_modules(), *(ROOT / "docs").rglob("*.md")]
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if "shared/notes" in line or "shared/seeds" in line]
    assert not cited, cited
