"""The columns an InferenceGrid shows: those of the frame, and, when predictions meet actual
values, the actual column and an error column (prediction minus actual) next to each forecast.

Nothing here copies a column when it is created: a ``GridColumn`` knows where its values live
and reads them when a window, a sort, a filter or a summary needs them. Values that have to be
computed (an error column, a nullable integer column as floats, the codes that sort text) are
computed on first use and kept.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from qwidgets.errors import DataValidationError, ValidationError

# Longest text sent for one cell; a longer one ends with an ellipsis in the window.
TEXT_CAP = 200
NUMERIC_KINDS = ("float", "int", "uint", "bool")
_INT64_MIN = np.iinfo(np.int64).min


def kind_of(dtype: Any) -> str:
    """How a column travels and sorts: float, int, uint, bool (binary buffers), datetime or
    text (strings)."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "text"
    if isinstance(dtype, np.dtype):
        return {"f": "float", "i": "int", "u": "uint", "b": "bool", "M": "datetime",
                "m": "datetime"}.get(dtype.kind, "text")
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "datetime"
    kind = getattr(dtype, "kind", "")
    if kind and kind in "fiub" and not pd.api.types.is_string_dtype(dtype):
        return "float"  # pandas' nullable numbers: floats with NaN where the value is missing
    return "text"


def display_name(label: Any) -> str:
    if isinstance(label, tuple):
        return " / ".join(str(part) for part in label)
    return str(label)


@dataclass(eq=False)
class GridColumn:
    name: str
    kind: str
    dtype: str
    # Where the values live: a column of the frame, of the actual frame, or pred - actual.
    source: str  # "df" | "actual" | "error"
    series: Callable[[], pd.Series] | None = None
    role: str = ""  # "pred" | "actual" | "error"
    pair: str = ""
    parts: tuple[GridColumn, GridColumn] | None = None  # (pred, actual) of an error column
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def meta(self) -> dict[str, str]:
        return {"name": self.name, "kind": self.kind, "dtype": self.dtype, "role": self.role,
                "pair": self.pair}

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS

    def _cached(self, key: str, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = compute()
            return self._cache[key]

    # ------------------------------------------------------------------ values

    def numbers(self) -> np.ndarray:
        """Every value as a numpy array (a view of the frame's own data where the dtype
        allows it). Numeric columns only."""
        if self.parts is not None:
            pred, actual = self.parts
            return self._cached("numbers", lambda: np.subtract(
                pred.numbers(), actual.numbers(), dtype=np.float64))
        s = self._series()
        if isinstance(s.dtype, np.dtype):
            values = s.to_numpy()
            return values.view(np.uint8) if values.dtype == np.bool_ else values
        return self._cached("numbers", lambda: s.to_numpy(dtype=np.float64, na_value=np.nan))

    def take_numbers(self, rows: np.ndarray) -> np.ndarray:
        """The values of ``rows`` in the dtype they travel in (float64, int64, uint64, uint8)."""
        if self.parts is not None:
            pred, actual = self.parts
            return np.subtract(pred.take_numbers(rows), actual.take_numbers(rows), dtype=np.float64)
        s = self._series()
        if isinstance(s.dtype, np.dtype):
            values = s.to_numpy().take(rows)
        else:
            values = s.iloc[rows].to_numpy(dtype=np.float64, na_value=np.nan)
        wire = {"float": np.float64, "int": np.int64, "uint": np.uint64, "bool": np.uint8}[self.kind]
        return np.ascontiguousarray(values, dtype=wire)

    def take_text(self, rows: np.ndarray, cap: int = TEXT_CAP) -> list[str | None]:
        """The values of ``rows`` as the strings a cell shows (None where missing)."""
        return [None if v is None else (v if len(v) <= cap else v[: cap - 1] + "…")
                for v in _strings(self._series().iloc[rows])]

    def take_series(self, rows: np.ndarray) -> pd.Series:
        """The values of ``rows`` with their own dtype (for CSV)."""
        if self.parts is not None:
            return pd.Series(self.take_numbers(rows), name=self.name)
        return self._series().iloc[rows].reset_index(drop=True).rename(self.name)

    def _series(self) -> pd.Series:
        assert self.series is not None, self.name
        return self.series()

    # ----------------------------------------------------------- sort, filter

    def sort_key(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Keys that order the rows as pandas sorts this column, and where a key is missing
        (those rows go last). Text sorts by the codes of its sorted distinct values."""
        return self._cached("sort_key", self._sort_key)

    def _sort_key(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.numeric:
            values = self.numbers()
            missing = np.isnan(values) if values.dtype.kind == "f" else None
            return values, missing if missing is not None and missing.any() else None
        s = self._series()
        if self.kind == "datetime":
            codes = np.asarray(s.array.asi8)
            missing = codes == _INT64_MIN
        elif isinstance(s.dtype, pd.CategoricalDtype):
            codes = s.cat.codes.to_numpy()
            missing = codes < 0
        else:
            try:
                codes = pd.factorize(s, sort=True)[0]
            except TypeError:  # values that do not compare with each other: sort their text
                codes = pd.factorize(s.map(lambda v: v if _missing(v) else str(v)), sort=True)[0]
            missing = codes < 0
        return codes, missing if missing.any() else None

    def range_mask(self, low: float | None, high: float | None) -> np.ndarray:
        values = self.numbers()
        mask = np.ones(len(values), dtype=bool)
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
        if values.dtype.kind == "f":
            mask &= ~np.isnan(values)  # NaN never satisfies a range
        return mask

    def contains_mask(self, text: str) -> np.ndarray:
        """Rows whose shown text contains ``text``, ignoring case; missing values never match."""
        s = self._series()
        if not isinstance(s.dtype, pd.StringDtype):  # object cells may be lists, numbers...
            s = pd.Series(_strings(s), dtype=object)
        found = s.str.lower().str.contains(text.lower(), regex=False)
        return found.fillna(False).to_numpy(dtype=bool)

    # ---------------------------------------------------------------- summary

    def summary(self) -> dict[str, Any]:
        """dtype, counts and the range of the values; computed once, on first request."""
        return self._cached("summary", self._summary)

    def _summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype}
        if self.numeric:
            values = self.numbers()
            present = values[~np.isnan(values)] if values.dtype.kind == "f" else values
            out["missing"] = int(len(values) - len(present))
            out["count"] = len(present)
            if len(present):
                out["min"] = json_number(present.min())
                out["max"] = json_number(present.max())
                out["mean"] = json_number(present.mean(dtype=np.float64))
            if self.role == "error" and len(present):
                out["mae"] = json_number(np.abs(present).mean())
                out["rmse"] = json_number(np.sqrt(np.square(present).mean()))
            return out
        s = self._series()
        missing = int(s.isna().sum())
        out["missing"] = missing
        out["count"] = int(len(s) - missing)
        if self.kind == "datetime":
            present = s.dropna()
            if len(present):
                out["min"], out["max"] = str(present.min()), str(present.max())
        else:
            try:
                out["distinct"] = int(s.nunique(dropna=True))
            except TypeError:  # unhashable cells (lists, dicts)
                out["distinct"] = int(pd.Series(_strings(s)).nunique(dropna=True))
        return out

    def error_scale(self) -> float:
        """A typical large |error| (the 99th percentile over an even sample of rows): the error
        that gets the strongest tint, the same on every window."""
        def compute() -> float:
            values = self.numbers()
            step = max(1, len(values) // 200_000)
            sample = np.abs(values[::step])
            sample = sample[np.isfinite(sample)]
            return float(np.quantile(sample, 0.99)) if len(sample) else 0.0
        return float(self._cached("scale", compute))


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    return isinstance(v, float) and v != v


def _strings(s: pd.Series) -> list[str | None]:
    return [None if _missing(v) else str(v) for v in s.tolist()]


def json_number(x: Any) -> Any:
    """A number the Jupyter message packer accepts (it refuses NaN and infinities)."""
    if isinstance(x, (np.integer, int)) and not isinstance(x, bool):
        whole = int(x)
        return whole if abs(whole) <= 2**53 else str(whole)
    v = float(x)
    if v != v:
        return None
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


# -------------------------------------------------------------------- planning


def plan_columns(df: pd.DataFrame, actual: pd.DataFrame | None) -> list[GridColumn]:
    """The grid's columns in order: the frame's, each forecast followed by its actual values and
    its error. Costs O(columns), never O(rows)."""
    names = _unique_names(df, "df")
    cols = [_frame_column(df, j, name, "df") for j, name in enumerate(names)]
    taken = set(names)
    if actual is not None:
        return _pair_with_actual(cols, actual, taken)
    return _pair_within(cols, taken)


def require_dataframe(df: Any, field_name: str) -> pd.DataFrame:
    """``df`` itself if it is a DataFrame (any dtypes: a grid shows text too), else a
    ValidationError; the numeric rules of training data are ``check_numeric_frame``'s."""
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(field_name, type(df).__name__, "a pandas DataFrame is needed",
                              "pass a DataFrame, e.g. pd.DataFrame(data)")
    return df


def _unique_names(df: pd.DataFrame, field_name: str) -> list[str]:
    names = [display_name(c) for c in df.columns]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dups = sorted({n for n in names if n in seen or seen.add(n)})  # type: ignore[func-returns-value]
        raise DataValidationError(field_name, dups, "column names must be unique, so a sort or "
                                  "filter can name one", "rename them, e.g. df.columns = [...]")
    return names


def _frame_column(frame: pd.DataFrame, j: int, name: str, source: str) -> GridColumn:
    dtype = frame.dtypes.iloc[j]

    def series() -> pd.Series:
        return frame.iloc[:, j]

    return GridColumn(name, kind_of(dtype), str(dtype), source, series=series)


def _fresh(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def _error_column(pred: GridColumn, actual: GridColumn, base: str, taken: set[str]) -> GridColumn:
    name = _fresh(f"{base}_error", taken)
    pred.role, actual.role = "pred", "actual"
    pred.pair, actual.pair = actual.name, pred.name
    return GridColumn(name, "float", "float64", "error", role="error", pair=pred.name,
                      parts=(pred, actual))


def _pair_with_actual(cols: list[GridColumn], actual: pd.DataFrame,
                      taken: set[str]) -> list[GridColumn]:
    anames = _unique_names(actual, "actual")
    by_name = {c.name: c for c in cols}
    out: list[GridColumn] = []
    extra: list[GridColumn] = []
    paired: dict[str, GridColumn] = {}
    for j, aname in enumerate(anames):
        acol = _frame_column(actual, j, aname, "actual")
        pred = by_name.get(aname)
        if pred is not None and pred.numeric and acol.numeric:
            paired[aname] = acol
        elif pred is None:
            acol.name = _fresh(aname, taken)
            extra.append(acol)
    for col in cols:
        out.append(col)
        truth = paired.get(col.name)
        if truth is not None:
            truth.name = _fresh(f"{col.name}_actual", taken)
            out += [truth, _error_column(col, truth, col.name, taken)]
    return out + extra


def _pair_within(cols: list[GridColumn], taken: set[str]) -> list[GridColumn]:
    """Pairs ``x_pred`` or ``x`` (the forecast) with ``x_actual`` or ``x`` (the truth)."""
    by_name = {c.name: c for c in cols}
    pairs: list[tuple[GridColumn, GridColumn, str]] = []
    used: set[str] = set()
    for col in cols:
        base = col.name[:-5] if col.name.endswith("_pred") else col.name
        candidates = [f"{base}_actual"] + ([base] if col.name.endswith("_pred") else [])
        if col.name in used:
            continue
        truth = next((by_name[n] for n in candidates
                      if n in by_name and n != col.name and n not in used), None)
        if truth is None or not (col.numeric and truth.numeric):
            continue
        used |= {col.name, truth.name}
        pairs.append((col, truth, base))
    out = list(cols)
    for pred, truth, base in pairs:
        err = _error_column(pred, truth, base, taken)
        out.insert(max(out.index(pred), out.index(truth)) + 1, err)
    return out
