"""InferenceGrid, kernel side: windows of a sorted and filtered view against pandas, the bytes
of a window, CSV export, pairing of forecasts with actual values, and construction cost."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from typing import Any

import numpy as np
import pandas as pd
import pytest

from qwidgets.errors import ValidationError
from qwidgets.widgets import frame_view
from qwidgets.widgets.frame_order import full_order, head_order
from qwidgets.widgets.frame_view import WINDOW_BUDGET, message_bytes
from qwidgets.widgets.grid import InferenceGrid

XSS = "<img src=x onerror=alert(1)>"
DTYPES = {"f8": np.float64, "i8": np.int64, "u8": np.uint64, "b1": np.uint8}


def ask(grid: InferenceGrid, **fields: Any) -> tuple[dict[str, Any], list[Any]]:
    """Send a request as the browser does; return the reply message and its buffers."""
    sent: list[tuple[dict[str, Any], list[Any]]] = []
    grid._requests._send = lambda content, buffers: sent.append((content, buffers))
    grid._requests.receive({"id": f"t{id(sent)}", **fields})
    assert len(sent) == 1, sent
    return sent[0]


def decode(content: dict[str, Any], buffers: list[Any]) -> tuple[list[Any], dict[str, list[Any]]]:
    assert content["ok"], content.get("error")
    result = content["result"]

    def values(enc: dict[str, Any]) -> list[Any]:
        if enc["encoding"] == "json":
            return enc["data"]
        return np.frombuffer(buffers[enc["buffer"]], dtype=DTYPES[enc["encoding"]]).tolist()

    return values(result["index"]), {c["name"]: values(c) for c in result["columns"]}


def fetch_view(grid: InferenceGrid, page: int = 37,
               **view: Any) -> tuple[list[Any], dict[str, list[Any]], int]:
    """Every row of a view, page by page, as the browser would scroll through it."""
    index: list[Any] = []
    cols: dict[str, list[Any]] = {}
    offset, total = 0, None
    while total is None or offset < total:
        content, buffers = ask(grid, kind="window", offset=offset, limit=page, **view)
        total = content["result"]["total"]
        idx, got = decode(content, buffers)
        assert content["result"]["offset"] == offset
        index += idx
        for k, v in got.items():
            cols.setdefault(k, []).extend(v)
        offset += len(idx)
        if not idx:
            break
    return index, cols, int(total or 0)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 500
    x = rng.integers(0, 8, n).astype(float)  # many ties
    x[rng.choice(n, 40, replace=False)] = np.nan
    words = np.array(["alpha", "Beta", "gamma", XSS, "delta", "ALPHABET"], dtype=object)
    s = words[rng.integers(0, len(words), n)]
    s[rng.choice(n, 30, replace=False)] = None
    return pd.DataFrame({"x": x, "k": rng.integers(-3, 3, n), "s": s, "u": rng.standard_normal(n)})


def reference(df: pd.DataFrame, sort_by: str | None, descending: bool,
              mask: np.ndarray | None) -> pd.DataFrame:
    view = df if mask is None else df[mask]
    if sort_by is not None:
        view = view.sort_values(sort_by, ascending=not descending, kind="stable", na_position="last")
    return view


@pytest.mark.parametrize(("sort_by", "descending", "filters"), [
    (None, False, {}),
    ("x", False, {}),
    ("x", True, {}),
    ("k", True, {"u": {"min": -0.5, "max": 1.0}}),
    ("s", False, {"s": {"contains": "ALPHA"}}),
    ("s", True, {}),
    ("u", False, {"x": {"min": 2}, "s": {"contains": "a"}}),
    (None, False, {"x": {"max": 3}}),
])
def test_windows_match_pandas(frame: pd.DataFrame, sort_by: str | None, descending: bool,
                              filters: dict[str, Any]) -> None:
    grid = InferenceGrid(frame)
    index, cols, total = fetch_view(grid, sort_by=sort_by, descending=descending, filters=filters)
    mask = np.ones(len(frame), dtype=bool)
    for name, spec in filters.items():
        if "contains" in spec:
            found = frame[name].str.lower().str.contains(spec["contains"].lower(), regex=False)
            mask &= found.fillna(False).to_numpy(bool)
        else:
            col = frame[name]
            mask &= col.ge(spec.get("min", -np.inf)).to_numpy() & col.le(spec.get("max", np.inf)).to_numpy()
    ref = reference(frame, sort_by, descending, mask)
    assert total == len(ref)
    assert len(index) == len(ref)
    assert index == ref.index.tolist()
    np.testing.assert_array_equal(np.array(cols["x"]), ref["x"].to_numpy())
    assert cols["k"] == ref["k"].tolist()
    assert cols["s"] == [None if pd.isna(v) else v for v in ref["s"].tolist()]


def test_ties_keep_frame_order_both_ways() -> None:
    df = pd.DataFrame({"g": [2, 1, 2, 1, 2, 1, 0], "tag": list("abcdefg")})
    grid = InferenceGrid(df)
    _, asc, _ = fetch_view(grid, sort_by="g")
    _, desc, _ = fetch_view(grid, sort_by="g", descending=True)
    assert asc["tag"] == list("gbdface")
    assert desc["tag"] == list("acebdfg")  # not the ascending order reversed
    assert desc["tag"] == df.sort_values("g", ascending=False, kind="stable")["tag"].tolist()


def test_nan_sorts_last_and_never_passes_a_range() -> None:
    df = pd.DataFrame({"x": [np.nan, 2.0, -1.0, np.nan, 0.0], "t": ["p", None, "q", "P", None]})
    grid = InferenceGrid(df)
    for descending in (False, True):
        index, cols, _ = fetch_view(grid, sort_by="x", descending=descending)
        assert index[-2:] == [0, 3]
        assert all(np.isnan(cols["x"][-2:]))
        index, _, _ = fetch_view(grid, sort_by="t", descending=descending)
        assert index[-2:] == [1, 4]
    index, _, total = fetch_view(grid, filters={"x": {"min": -5}})
    assert (index, total) == ([1, 2, 4], 3)
    index, _, _ = fetch_view(grid, filters={"t": {"contains": "p"}})
    assert index == [0, 3]  # case ignored; missing text never matches


@pytest.mark.parametrize("descending", [False, True])
def test_head_of_a_big_view_equals_the_full_sort(descending: bool) -> None:
    # The first screen of a sorted view comes from a partition, not a full sort: check it
    # against the full sort where ties straddle the k-th key, with NaN and a filter.
    rng = np.random.default_rng(11)
    keys = rng.integers(0, 50, 60_000).astype(float)
    keys[rng.choice(60_000, 5_000, replace=False)] = np.nan
    missing = np.isnan(keys)
    rows = np.flatnonzero(rng.random(60_000) < 0.7)
    for sub in (None, rows):
        full = full_order(keys, missing, sub, descending)
        for k in (1, 37, 1200, 9_999):
            np.testing.assert_array_equal(head_order(keys, missing, sub, descending, k), full[:k])
    ref = pd.Series(keys).sort_values(ascending=not descending, kind="stable").index.to_numpy()
    np.testing.assert_array_equal(full_order(keys, missing, None, descending), ref)


def test_deep_rows_of_a_sorted_view_use_the_full_order() -> None:
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"v": rng.integers(0, 100, 30_000)})
    grid = InferenceGrid(df)
    ref = df.sort_values("v", kind="stable").index.to_numpy()
    head, _ = decode(*ask(grid, kind="window", offset=0, limit=100, sort_by="v"))
    deep, _ = decode(*ask(grid, kind="window", offset=29_950, limit=100, sort_by="v"))
    assert head == ref[:100].tolist()
    assert deep == ref[29_950:].tolist()


def test_window_bytes_stay_small_and_numbers_travel_as_buffers() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.standard_normal((20_000, 8)), columns=list("abcdefgh"))
    grid = InferenceGrid(df)
    content, buffers = ask(grid, kind="window", offset=100, limit=50)
    assert all(c["encoding"] == "f8" for c in content["result"]["columns"])
    assert len(buffers) == 9  # the index and eight columns, no JSON numbers
    assert message_bytes(content, buffers) < 6_000
    _, cols = decode(content, buffers)
    np.testing.assert_array_equal(cols["c"], df["c"].to_numpy()[100:150])
    # The largest window the browser may ask for, of long text, still fits the budget.
    wide = pd.DataFrame({f"t{i}": ["é" * 5_000] * 1_000 for i in range(6)})
    grid = InferenceGrid(wide)
    content, buffers = ask(grid, kind="window", offset=0, limit=10_000)
    assert content["result"]["count"] == 2 * grid._page_rows
    assert message_bytes(content, buffers) <= WINDOW_BUDGET
    assert content["result"]["columns"][0]["data"][0].endswith("…")


def test_unknown_filter_column_is_named() -> None:
    grid = InferenceGrid(pd.DataFrame({"x": [1.0], "s": ["a"]}))
    content, _ = ask(grid, kind="window", offset=0, limit=10, filters={"nope": {"min": 1}})
    assert not content["ok"]
    assert "'nope'" in content["error"]
    assert "'x'" in content["error"]
    with pytest.raises(ValidationError) as err:
        grid.filters = {"nope": {"contains": "a"}}
    assert err.value.field == "filters"
    assert err.value.value == "nope"
    with pytest.raises(ValidationError, match=r"filters\.x\.min"):
        grid.filters = {"x": {"min": "ten"}}
    with pytest.raises(ValidationError, match=r"filters\.s"):
        grid.filters = {"s": {"min": 1}}
    with pytest.raises(ValidationError, match="sort_by"):
        grid.sort_by = "missing"
    with pytest.raises(TypeError, match="unexpected keyword"):
        InferenceGrid(pd.DataFrame({"x": [1]}), colour="red")  # type: ignore[call-arg]


def test_markup_in_cells_is_data(frame: pd.DataFrame) -> None:
    grid = InferenceGrid(frame)
    _, cols, _ = fetch_view(grid, filters={"s": {"contains": "onerror"}})
    assert cols["s"]
    assert set(cols["s"]) == {XSS}
    assert XSS in grid.to_csv()  # type: ignore[operator]
    grid.filters = {"s": {"contains": "onerror"}}
    page = grid.static_html()
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_csv_of_a_sorted_filtered_view_equals_pandas(frame: pd.DataFrame, tmp_path: Any) -> None:
    big = pd.concat([frame] * 90, ignore_index=True)  # 45,000 rows: several chunks
    grid = InferenceGrid(big, sort_by="u", descending=True, filters={"x": {"min": 1, "max": 6}})
    mask = big["x"].between(1, 6).to_numpy()
    expected = reference(big, "u", True, mask).to_csv()
    grid.to_csv(tmp_path / "view.csv")
    assert (tmp_path / "view.csv").read_text(encoding="utf-8") == expected
    assert grid.to_csv() == expected
    # The browser's download: chunks asked for one after another, joined.
    parts, start = [], 0
    while start is not None:
        content, buffers = ask(grid, kind="export", start=start, sort_by="u", descending=True,
                               filters={"x": {"min": 1, "max": 6}})
        assert content["ok"], content.get("error")
        parts.append(bytes(buffers[0]).decode("utf-8"))
        start = content["result"]["next"]
    assert len(parts) >= 2
    assert "".join(parts) == expected


def test_browser_download_is_capped_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(frame_view, "EXPORT_MAX_ROWS", 30)
    monkeypatch.setattr(frame_view, "EXPORT_CHUNK_ROWS", 20)
    df = pd.DataFrame({"x": np.arange(100.0)})
    grid = InferenceGrid(df)
    first, _ = ask(grid, kind="export", start=0)
    last, buffers = ask(grid, kind="export", start=first["result"]["next"])
    assert last["result"]["next"] is None
    assert last["result"]["capped"]
    assert "100 rows" in last["result"]["message"]
    assert "grid.to_csv" in last["result"]["message"]
    assert bytes(buffers[0]).decode().splitlines()[-1] == "29,29.0"


def test_forecasts_pair_with_actual_values() -> None:
    pred = pd.DataFrame({"y": [1.0, 2.0, 4.0], "z": [0.5, 0.0, 1.0]})
    actual = pd.DataFrame({"y": [1.5, 2.0, 2.0], "x": [10, 20, 30]})
    grid = InferenceGrid(pred, actual=actual)
    roles = {c["name"]: (c["role"], c["pair"]) for c in grid._columns}
    assert grid.columns == ["y", "y_actual", "y_error", "z", "x"]
    assert roles["y"] == ("pred", "y_actual")
    assert roles["y_actual"] == ("actual", "y")
    assert roles["y_error"] == ("error", "y")
    assert roles["z"] == ("", "")
    content, buffers = ask(grid, kind="window", offset=0, limit=10, sort_by="y_error")
    _, cols = decode(content, buffers)
    assert cols["y_error"] == [-0.5, 0.0, 2.0]
    assert cols["x"] == [10, 20, 30]
    assert content["result"]["scales"]["y_error"] == pytest.approx(np.quantile([0.5, 0.0, 2.0], 0.99))
    assert grid.summary().loc["y_error", "mae"] == pytest.approx(2.5 / 3)
    with pytest.raises(ValidationError, match="actual"):
        InferenceGrid(pred, actual=actual.iloc[:2])


def test_pairs_within_one_frame() -> None:
    df = pd.DataFrame({"a_pred": [1.0, 3.0], "a": [2.0, 3.0], "b": [1.0, 1.0], "b_actual": [0.0, 2.0],
                       "b_error": ["taken", "name"]})
    grid = InferenceGrid(df)
    assert grid.columns == ["a_pred", "a", "a_error", "b", "b_actual", "b_error_2", "b_error"]
    csv = grid.to_csv()
    assert csv is not None
    assert csv.splitlines()[1] == "0,1.0,2.0,-1.0,1.0,0.0,1.0,taken"


def test_new_frame_resets_the_view() -> None:
    grid = InferenceGrid(pd.DataFrame({"x": [3.0, 1.0, 2.0]}), sort_by="x", filters={"x": {"min": 2}})
    assert grid.view_rows() == 2
    version = grid._version
    grid.df = pd.DataFrame({"q": ["b", "a"]})
    assert (grid.sort_by, grid.filters, grid._rows, grid._version) == (None, {}, 2, version + 1)
    assert [c["name"] for c in grid._columns] == ["q"]
    stale, _ = ask(grid, kind="window", offset=0, limit=5, version=version)
    assert not stale["ok"]
    assert "stale" in stale["error"]
    index, cols, _ = fetch_view(grid, sort_by="q", version=grid._version)
    assert (index, cols["q"]) == ([1, 0], ["a", "b"])
    grid.update(pd.DataFrame({"y": [1.0]}), actual=pd.DataFrame({"y": [0.0]}))
    assert grid.columns == ["y", "y_actual", "y_error"]
    with pytest.raises(ValidationError, match="actual"):
        grid.df = pd.DataFrame({"y": [1.0, 2.0]})


def test_construction_reads_no_rows() -> None:
    df = pd.DataFrame(np.zeros((2_000_000, 8)), columns=list("abcdefgh"))  # 128 MB
    tracemalloc.start()
    try:
        grid = InferenceGrid(df)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000, f"construction allocated {peak} bytes"
    assert grid._rows == 2_000_000
    assert len(grid._columns) == 8
    view = grid._view
    assert not view._orders
    assert not view._heads
    assert all(not c._cache for c in view.columns)  # no summary, no sort key yet
    assert grid.df is df


def test_summaries_are_computed_on_request() -> None:
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, np.inf], "s": ["a", "b", "a", None],
                       "t": pd.to_datetime(["2024-01-02", None, "2023-05-01", "2024-01-01"])})
    grid = InferenceGrid(df)
    content, _ = ask(grid, kind="summary")
    json.dumps(content, allow_nan=False)  # what Jupyter's packer demands
    s = content["result"]
    assert s["x"] == {"dtype": "float64", "missing": 1, "count": 3, "min": 1.0, "max": "Infinity",
                      "mean": "Infinity"}
    assert s["s"] == {"dtype": str(df["s"].dtype), "missing": 1, "count": 3, "distinct": 2}
    assert s["t"]["min"].startswith("2023-05-01")
    assert s["t"]["missing"] == 1


def test_other_dtypes_sort_like_pandas() -> None:
    df = pd.DataFrame({
        "when": pd.to_datetime(["2024-03-01", None, "2021-01-01", "2024-03-01"]),
        "cat": pd.Categorical(["lo", "hi", None, "lo"], categories=["lo", "hi"]),
        "n": pd.array([3, None, 1, 2], dtype="Int64"),
        "flag": [True, False, True, False],
    })
    grid = InferenceGrid(df)
    for col in df.columns:
        for descending in (False, True):
            index, cols, _ = fetch_view(grid, sort_by=col, descending=descending)
            ref = df.sort_values(col, ascending=not descending, kind="stable", na_position="last")
            assert index == ref.index.tolist(), (col, descending)
    _, cols, _ = fetch_view(grid)
    assert cols["when"][1] is None
    assert cols["when"][0] == "2024-03-01 00:00:00"
    assert cols["flag"] == [1, 0, 1, 0]
    assert np.isnan(cols["n"][1])
    assert cols["n"][0] == 3.0
    index, _, _ = fetch_view(grid, filters={"when": {"contains": "2024"}, "n": {"min": 2}})
    assert index == [0, 3]


def test_offline_payload_is_plain_json() -> None:
    df = pd.DataFrame({"x": [np.inf, np.nan, 1.0, 2.0], "s": [XSS, None, "b", "c"]})
    grid = InferenceGrid(df, sort_by="x")
    payload = grid._offline_payload(max_rows=3)
    json.dumps(payload, allow_nan=False)
    assert payload["columns"] == ["x", "s"]
    assert payload["rows"] == 3
    assert payload["total"] == 4
    assert payload["index"] == [2, 3, 0]
    assert payload["data"]["x"] == [1.0, 2.0, "Infinity"]
    assert payload["data"]["s"] == ["b", "c", XSS]
    assert payload["summaries"]["x"]["missing"] == 1


def test_static_form_shows_shape_columns_and_first_rows() -> None:
    df = pd.DataFrame({"x": np.arange(50.0), "name": [f"row {i}" for i in range(50)]})
    grid = InferenceGrid(df, sort_by="x", descending=True)
    page = grid.static_html()
    assert "50 rows × 2 columns" in page
    assert "sorted by x (descending)" in page
    assert page.count("<tr>") == 21
    assert "row 49" in page
    assert "row 29" not in page
    assert "… 30 more rows" in page
    assert grid.static_text().startswith("InferenceGrid: 50 rows × 2 columns")


async def test_sorting_runs_off_the_kernel_loop() -> None:
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"v": rng.standard_normal(1_500_000)})
    grid = InferenceGrid(df)
    sent: list[tuple[dict[str, Any], list[Any]]] = []
    grid._requests._send = lambda content, buffers: sent.append((content, buffers))
    ticks = 0
    grid._requests.receive({"id": "deep", "kind": "window", "offset": 1_499_990, "limit": 10,
                            "sort_by": "v"})
    while not sent:
        await asyncio.sleep(0.001)
        ticks += 1
    assert ticks > 1  # the loop kept running while the sort ran
    index, cols = decode(*sent[0])
    assert index == df["v"].sort_values(kind="stable").index[-10:].tolist()
    assert cols["v"] == sorted(cols["v"])


def test_a_newer_sort_goes_before_queued_older_ones() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame(rng.standard_normal((400_000, 3)), columns=list("abc"))
    view = frame_view.FrameView(df)
    ka, kb, kc = (view.key(sort_by=name) for name in "abc")
    for k in (ka, kb, kc):
        view.order_future(k)
    # b, queued behind a when c came, may have been dropped; its rows are still right.
    rows, total, _ = view.positions(kb, 399_990, 10)
    assert total == 400_000
    np.testing.assert_array_equal(rows, df["b"].sort_values(kind="stable").index[-10:])
    # Asking for b again made it the newest: c, still queued, may have given way in turn.
    np.testing.assert_array_equal(view.order(kc), np.argsort(df["c"].to_numpy(), kind="stable"))
    np.testing.assert_array_equal(view.order(ka), np.argsort(df["a"].to_numpy(), kind="stable"))


async def test_saved_rows_follow_the_view_as_last_shown() -> None:
    # What a notebook saves with the widget state: a reopened notebook's new kernel does not
    # know the frame, so the browser shows these rows (the first of the view as last shown).
    df = pd.DataFrame({"v": [3.0, 1.0, 2.0], "s": ["c", "a", "b"]})
    grid = InferenceGrid(df)
    assert grid._offline_rows["data"]["v"] == [3.0, 1.0, 2.0]
    sent: list[tuple[dict[str, Any], list[Any]]] = []
    grid._requests._send = lambda content, buffers: sent.append((content, buffers))
    grid.sort_by = "v"
    grid._requests.receive({"id": "w", "kind": "window", "offset": 0, "limit": 50, "sort_by": "v"})
    while not sent:
        await asyncio.sleep(0.001)
    assert grid._offline_rows["data"]["v"] == [1.0, 2.0, 3.0]
    assert grid._offline_rows["index"] == [1, 2, 0]
    grid.update(pd.DataFrame({"v": [9.0]}))
    assert grid._offline_rows["data"] == {"v": [9.0]}
    json.dumps(grid._offline_rows, allow_nan=False)
