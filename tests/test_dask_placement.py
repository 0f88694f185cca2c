"""Where the Dask backend puts a training: on the worker with the most threads free of this
server's trainings, and nowhere in particular while the cluster has no worker."""

from __future__ import annotations

from qwidgets.sim.server.dask_placement import Placement


def test_each_training_goes_to_the_worker_with_the_most_free_threads() -> None:
    placement = Placement()
    placement.refresh({"tcp://a": 1, "tcp://b": 2})
    assert [placement.take() for _ in range(3)] == ["tcp://b", "tcp://a", "tcp://b"]
    assert placement.running() == {"tcp://a": 1, "tcp://b": 2}
    placement.give_back("tcp://a")
    assert placement.take() == "tcp://a"  # the thread that just freed
    placement.give_back("tcp://b")
    placement.give_back("tcp://b")
    assert placement.running() == {"tcp://a": 1}


def test_a_worker_that_left_gets_nothing_more_and_none_without_workers() -> None:
    placement = Placement()
    assert placement.take() is None  # the scheduler decides once a worker joins
    placement.refresh({"tcp://a": 1, "tcp://b": 1})
    first = placement.take()
    placement.refresh({"tcp://b": 1} if first == "tcp://a" else {"tcp://a": 1})
    second = placement.take()
    assert second != first
    placement.give_back(first)  # its run ended elsewhere: the count just goes
    assert placement.running() == {second: 1}
