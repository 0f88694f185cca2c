"""The store's in-memory copy of model rows: reads never see a stale row, callers cannot
change it, and a closed store answers nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from qwidgets.sim.server.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    the_store = Store(tmp_path)
    yield the_store
    if not the_store.closed:
        the_store.close()


def new_model(store: Store) -> str:
    row = store.add_model("ns", dataset_guid="d", training_parameters_guid="t",
                          qcog_version="0.0.1", progress={"pass": 0})
    return str(row["guid"])


def test_every_write_is_seen_by_the_next_read(store: Store) -> None:
    guid = new_model(store)
    assert store.model("ns", guid)["status"] == "pending"
    assert store.start_attempt("ns", guid) == 1
    assert store.model("ns", guid)["status"] == "processing"
    assert store.model("ns", guid)["attempts"] == 1
    store.update_progress("ns", guid, loss=[[1.0, 0.5]], training_completion=50,
                          current_batch_completion=100, progress={"pass": 1})
    row = store.model("ns", guid)
    assert (row["loss"], row["training_completion"], row["progress"]) == ([[1.0, 0.5]], 50, {"pass": 1})
    store.save_checkpoint("ns", guid, b"blob", [[1.0, 0.5], [0.4]])
    assert store.model("ns", guid)["loss"] == [[1.0, 0.5], [0.4]]
    store.release_attempt("ns", guid)
    assert store.model("ns", guid)["attempts"] == 0
    assert store.complete("ns", guid, b"weights", [[0.3]])
    assert store.model("ns", guid)["status"] == "completed"
    assert store.set_status("ns", guid, "failed", when=("completed",), failure_reason="why")
    assert store.model("ns", guid)["failure_reason"] == "why"


def test_a_returned_row_is_the_callers_copy(store: Store) -> None:
    guid = new_model(store)
    store.update_progress("ns", guid, loss=[[1.0]], training_completion=10,
                          current_batch_completion=10, progress={"pass": 0})
    row = store.model("ns", guid)
    row["status"] = "mangled"
    row["loss"][0].append(99.0)
    row["progress"]["pass"] = 42
    again = store.model("ns", guid)
    assert (again["status"], again["loss"], again["progress"]) == ("pending", [[1.0]], {"pass": 0})


def test_reads_racing_writes_end_at_the_last_write(store: Store) -> None:
    guid = new_model(store)
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            store.model("ns", guid)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for k in range(200):
        store.update_progress("ns", guid, loss=[[float(k)]], training_completion=k // 2,
                              current_batch_completion=0, progress={"pass": k})
    stop.set()
    for thread in threads:
        thread.join()
    assert store.model("ns", guid)["progress"] == {"pass": 199}


def test_unknown_models_and_closed_stores(store: Store) -> None:
    guid = new_model(store)
    assert store.model("other-namespace", guid) is None
    store.model("ns", guid)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.model("ns", guid)
