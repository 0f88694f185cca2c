"""The whole loss history of a training, kept in the kernel: one value per batch in a numpy
array that grows by doubling, and where each pass ended. The browser only ever gets a
decimated window of it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt


class LossHistory:
    """Per-batch losses (``values``) and pass boundaries (``pass_ends``: the number of
    batches seen when each pass ended)."""

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.empty(max(capacity, 16), dtype=np.float64)
        self._n = 0
        # Scalars pushed one at a time land here first: a list append is several times
        # cheaper than a numpy item assignment, and they are moved over in bulk.
        self._tail: list[float] = []
        self._ends: list[int] = []
        # How much of the server's passes x batches matrix is already in: rows, and values
        # of the last (possibly partial) row.
        self._rows_seen = 0
        self._last_row_len = 0

    def __len__(self) -> int:
        return self._n + len(self._tail)

    # ------------------------------------------------------------ feeding

    def append(self, value: float) -> None:
        self._tail.append(value)
        if len(self._tail) >= 65_536:
            self._settle()

    def extend(self, values: npt.ArrayLike) -> None:
        array = np.asarray(values, dtype=np.float64).ravel()
        self._settle()
        self._reserve(self._n + len(array))
        self._data[self._n:self._n + len(array)] = array
        self._n += len(array)

    def end_pass(self) -> None:
        """The values so far close a pass (no empty passes)."""
        n = len(self)
        if n and (not self._ends or self._ends[-1] < n):
            self._ends.append(n)

    def clear(self) -> None:
        self._n = 0
        self._tail.clear()
        self._ends.clear()
        self._rows_seen = self._last_row_len = 0

    def sync_matrix(self, matrix: Sequence[Sequence[Any]] | None, num_batches: int | None,
                    final: bool) -> int:
        """Take in what the server's loss matrix gained since the last call; returns how many
        values were added. A matrix shorter than what was seen (a server that resumed from
        an earlier checkpoint) rebuilds the history from it."""
        rows = [list(r or []) for r in matrix or []]
        seen_rows, seen_len = self._rows_seen, self._last_row_len
        if len(rows) < seen_rows or (seen_rows and len(rows) == seen_rows
                                     and len(rows[-1]) < seen_len):
            self.clear()
            seen_rows = seen_len = 0
        before = len(self)
        start = max(seen_rows - 1, 0)
        for i in range(start, len(rows)):
            skip = seen_len if i == seen_rows - 1 else 0
            row = rows[i]
            if len(row) > skip:
                self.extend([_number(v) for v in row[skip:]])
            # A cancelled or failed training leaves its last row short: not a pass to average.
            if num_batches:
                complete = i < len(rows) - 1 or len(row) >= num_batches
            else:
                complete = i < len(rows) - 1 or final
            if complete:
                self.end_pass()
        self._rows_seen = len(rows)
        self._last_row_len = len(rows[-1]) if rows else 0
        return len(self) - before

    # ------------------------------------------------------------ reading

    @property
    def values(self) -> npt.NDArray[np.float64]:
        """The per-batch losses (a view: copy it to keep it)."""
        self._settle()
        return self._data[:self._n]

    @property
    def pass_ends(self) -> list[int]:
        return list(self._ends)

    def matrix(self) -> list[list[float]]:
        """Back to passes x batches rows (the last one partial if its pass is running)."""
        values = self.values
        rows, start = [], 0
        for end in [*self._ends, len(values)]:
            if end > start:
                rows.append(values[start:end].tolist())
            start = end
        return rows

    def pass_means(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """(x, mean) per finished pass, x being the middle batch of the pass."""
        ends = np.asarray(self._ends, dtype=np.int64)
        if not len(ends):
            return np.empty(0), np.empty(0)
        starts = np.concatenate([[0], ends[:-1]])
        values = self.values
        with np.errstate(invalid="ignore"):
            sums = np.add.reduceat(values, starts) if len(values) else np.zeros(len(ends))
            means = sums / (ends - starts)
        return (starts + ends - 1) / 2.0, means

    def last(self) -> float | None:
        if self._tail:
            return self._tail[-1]
        return float(self._data[self._n - 1]) if self._n else None

    # ------------------------------------------------------------ storage

    def _settle(self) -> None:
        if self._tail:
            tail, self._tail = self._tail, []
            self._reserve(self._n + len(tail))
            self._data[self._n:self._n + len(tail)] = tail
            self._n += len(tail)

    def _reserve(self, size: int) -> None:
        if size > len(self._data):
            grown = np.empty(max(size, 2 * len(self._data)), dtype=np.float64)
            grown[:self._n] = self._data[:self._n]
            self._data = grown


def _number(value: Any) -> float:
    # The server writes null for a loss it could not compute: a gap, not an error.
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
