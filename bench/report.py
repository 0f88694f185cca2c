"""What every benchmark script prints: a readable table of its figures, or (``--json``) one
JSON object, chosen on the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Callable, Coroutine, Sequence
from typing import Any


def table(rows: Sequence[tuple[str, str]], value_width: int = 10) -> str:
    """Names left-aligned in one column, values right-aligned in the next."""
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value:>{value_width}}" for name, value in rows)


def main(doc: str, run: Callable[[], Coroutine[Any, Any, dict[str, Any]]],
         readable: Callable[[dict[str, Any]], str]) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = asyncio.run(run())
    print(json.dumps(result) if args.json else readable(result))
