"""One table of the browser <-> kernel request kinds (qwidgets/protocol/request_kinds.json): the
views (js/src) and the widgets (qwidgets/widgets) use only the kinds it lists, every kind it
lists is used, and what the views ask for is what the widgets handle."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "qwidgets" / "protocol" / "request_kinds.json"
JS_SRC = ROOT / "js" / "src"
WIDGETS = ROOT / "qwidgets" / "widgets"

# js/src/shared/kinds.ts turns the table into REQUEST.<kind> and CONTROL.<kind>.
TS_NAMED = re.compile(r"\b(?:REQUEST|CONTROL)\.([A-Za-z_]\w*)")
# A kind written as a string where a request is made or a message is read: what the table's
# names replace, so a new one shows up here.
TS_LITERAL = re.compile(
    r"""\.(?:request|run)(?:<[^>()]*>)?\(\s*["'`](\w+)["'`]"""  # requester.request("window", ...)
    r"""|\.bind\(\s*[\w.]+\s*,\s*["'`](\w+)["'`]"""  # buttons.bind(refresh, "refresh")
    r"""|\bsend\(\s*\{[^}]*\bkind\s*:\s*["'`](\w+)["'`]"""  # model.send({ ..., kind: "cancel" })
    r"""|\b(?:msg|message|content|reply)\.kind\s*[!=]==?\s*["'`](\w+)["'`]""")  # msg.kind === "reply"


def table() -> dict[str, dict[str, str]]:
    return json.loads(TABLE.read_text(encoding="utf-8"))


def listed() -> set[str]:
    t = table()
    return set(t["requests"]) | set(t["control"])


def ts_files() -> list[Path]:
    files = sorted(JS_SRC.rglob("*.ts"))
    assert files, f"no TypeScript under {JS_SRC}"
    return files


def ts_literals() -> dict[str, list[str]]:
    """kind -> places (file:line) where a view writes it as a string."""
    found: dict[str, list[str]] = {}
    for path in ts_files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in TS_LITERAL.finditer(line):
                kind = next(g for g in match.groups() if g)
                found.setdefault(kind, []).append(f"{path.relative_to(ROOT)}:{n}")
    return found


def ts_named() -> set[str]:
    return {k for path in ts_files() for k in TS_NAMED.findall(path.read_text(encoding="utf-8"))}


def ts_sent() -> set[str]:
    """Request kinds the views send (through REQUEST, the only way kinds.ts offers)."""
    return {k for path in ts_files()
            for k in re.findall(r"\bREQUEST\.(\w+)", path.read_text(encoding="utf-8"))}


def _reads_message_kind(func: ast.AST) -> bool:
    # content["kind"] or content.get("kind"): the function reads a message's kind
    for node in ast.walk(func):
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value == "kind":
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get" and node.args \
                and isinstance(node.args[0], ast.Constant) and node.args[0].value == "kind":
            return True
    return False


def _kind(node: ast.AST | None) -> str | None:
    """A kind written as a string, or named from the table (``Request.REFRESH``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
            and node.value.id in ("Request", "Control"):
        from qwidgets.protocol import request_kinds

        member = getattr(getattr(request_kinds, node.value.id), node.attr, None)
        return None if member is None else str(member.value)
    return None


def python_kinds() -> tuple[set[str], set[str]]:
    """(kinds the widgets register handlers for, every kind the widgets use): handlers are
    ``.register("kind", ...)``; the protocol's own kinds are ``{"kind": "reply", ...}`` messages
    sent and ``kind == "cancel"`` tests in a function that reads a message's kind (not the
    other things named kind: a column's, a queue item's)."""
    files = sorted(WIDGETS.rglob("*.py"))
    assert files, f"no Python widgets under {WIDGETS}"
    registered: set[str] = set()
    used: set[str] = set()
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "register" and node.args \
                    and (kind := _kind(node.args[0])) is not None:
                registered.add(kind)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "kind" \
                            and (kind := _kind(value)) is not None:
                        used.add(kind)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _reads_message_kind(node):
                for cmp in ast.walk(node):
                    if isinstance(cmp, ast.Compare) and isinstance(cmp.left, ast.Name) \
                            and cmp.left.id == "kind":
                        used.update(k for c in cmp.comparators if (k := _kind(c)) is not None)
    return registered, used | registered


def test_table_lists_each_kind_once_with_a_one_line_description() -> None:
    t = table()
    assert set(t) >= {"requests", "control"}
    both = set(t["requests"]) & set(t["control"])
    assert not both, f"kinds both requests and control: {sorted(both)}"
    for group in ("requests", "control"):
        for kind, text in t[group].items():
            assert re.fullmatch(r"[a-z][a-z0-9_]*", kind), f"{kind!r}: kinds are snake_case names"
            one_line = isinstance(text, str) and text.strip() != "" and "\n" not in text
            assert one_line, f"{kind!r} needs a one-line description"


def test_views_use_only_listed_kinds() -> None:
    unknown = (ts_named() | set(ts_literals())) - listed()
    assert not unknown, f"js/src uses kinds missing from {TABLE.relative_to(ROOT)}: {sorted(unknown)}"


def test_views_name_kinds_from_the_table() -> None:
    literals = ts_literals()
    assert not literals, ("use REQUEST.<kind> / CONTROL.<kind> from js/src/shared/kinds.ts, "
                          f"not strings: {literals}")


def test_widgets_use_only_listed_kinds() -> None:
    _, used = python_kinds()
    unknown = used - listed()
    assert not unknown, \
        f"qwidgets/widgets uses kinds missing from {TABLE.relative_to(ROOT)}: {sorted(unknown)}"


def test_every_listed_kind_is_used() -> None:
    _, used = python_kinds()
    unused = listed() - (used | ts_named() | set(ts_literals()))
    assert not unused, f"kinds listed but used neither in js/src nor in qwidgets/widgets: {sorted(unused)}"


def test_views_ask_for_what_the_widgets_handle() -> None:
    registered, _ = python_kinds()
    sent = ts_sent() | {k for k in ts_literals() if k in table()["requests"]}
    assert sent - registered == set(), f"sent by a view, handled by no widget: {sorted(sent - registered)}"
    assert registered - sent == set(), f"handled by a widget, sent by no view: {sorted(registered - sent)}"
    idle = set(table()["requests"]) - registered
    assert not idle, f"request kinds listed that no widget handles: {sorted(idle)}"
