"""``QcogClient``: the same API as ``AsyncQcogClient`` without ``await``.

Works in a plain script, inside a running Jupyter kernel and from any thread: every call runs
on a private event loop in a background thread (see ``loop_thread``), never ``asyncio.run``
under a running loop, never a global patch of asyncio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import pandas as pd

from qwidgets.client.http import HttpClient
from qwidgets.client.loop_thread import LoopThread, close_at_exit, shared_loop
from qwidgets.client.qcog.client import DEFAULT_QCOG_VERSION, UPLOAD_THRESHOLD, AsyncQcogClient, Operator
from qwidgets.client.qcog.parameters import InferenceParameters, StateParameters, WeightParameters
from qwidgets.client.qcog.sweep import Sweep, SweepRow
from qwidgets.client.retry import RetryPolicy


class QcogClient:
    """Blocking client; ``QcogClient.create(...)`` takes the arguments of the async one."""

    def __init__(self, client: AsyncQcogClient, loop: LoopThread | None = None) -> None:
        self._client = client
        self._loop = loop or shared_loop()
        close_at_exit(client.http_client)

    @classmethod
    def create(
        cls,
        *,
        token: str | None = None,
        hostname: str | None = None,
        port: int = 443,
        api_version: str = "v1",
        safe_mode: bool = False,
        version: str = DEFAULT_QCOG_VERSION,
        timeout: float = 60.0,
        retry: RetryPolicy | int | None = None,
        upload_threshold: int = UPLOAD_THRESHOLD,
    ) -> QcogClient:
        loop = shared_loop()
        client = loop.run(AsyncQcogClient.create(
            token=token, hostname=hostname, port=port, api_version=api_version,
            safe_mode=safe_mode, version=version, timeout=timeout, retry=retry,
            upload_threshold=upload_threshold))
        return cls(client, loop)

    # ------------------------------------------------------------ lifecycle, properties

    def close(self) -> None:
        self._loop.run(self._client.close())

    def __enter__(self) -> QcogClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self._client.http_client.base_url!r}, "
                f"model_guid={self._client.model_guid!r})")

    @property
    def async_client(self) -> AsyncQcogClient:
        """The underlying async client; await it only on this client's loop thread."""
        return self._client

    @property
    def http_client(self) -> HttpClient:
        return self._client.http_client

    @property
    def version(self) -> str:
        return self._client.version

    @version.setter
    def version(self, value: str) -> None:
        self._client.version = value

    @property
    def last_status(self) -> str | None:
        return self._client.last_status

    @property
    def model(self) -> dict[str, Any]:
        return self._client.model

    @property
    def dataset(self) -> dict[str, Any]:
        return self._client.dataset

    @property
    def training_parameters(self) -> dict[str, Any]:
        return self._client.training_parameters

    @property
    def trained_model(self) -> dict[str, Any]:
        return self._client.trained_model

    @property
    def dataset_guid(self) -> str | None:
        return self._client.dataset_guid

    @property
    def training_parameters_guid(self) -> str | None:
        return self._client.training_parameters_guid

    @property
    def model_guid(self) -> str | None:
        return self._client.model_guid

    # ------------------------------------------------------------ the API

    def pauli(
        self,
        operators: Sequence[Operator],
        qbits: int = 2,
        pauli_weight: int = 2,
        sigma_sq: Mapping[str, float] | float | None = None,
        sigma_sq_optimization: Mapping[str, float] | None = None,
        seed: int = 42,
        target_operator: Sequence[Operator] | None = None,
    ) -> QcogClient:
        self._client.pauli(operators, qbits, pauli_weight, sigma_sq, sigma_sq_optimization,
                           seed, target_operator)
        return self

    def ensemble(
        self,
        operators: Sequence[Operator],
        dim: int = 16,
        num_axes: int = 4,
        sigma_sq: Mapping[str, float] | float | None = None,
        sigma_sq_optimization: Mapping[str, float] | None = None,
        seed: int = 42,
        target_operator: Sequence[Operator] | None = None,
    ) -> QcogClient:
        self._client.ensemble(operators, dim, num_axes, sigma_sq, sigma_sq_optimization, seed,
                              target_operator)
        return self

    def data(self, data: pd.DataFrame, *, standardize: bool = False,
             classes: Sequence[str] = (), warn: bool = True) -> QcogClient:
        self._loop.run(self._client.data(data, standardize=standardize, classes=classes,
                                         warn=warn))
        return self

    def preloaded_data(self, guid: str) -> QcogClient:
        self._loop.run(self._client.preloaded_data(guid))
        return self

    def preloaded_training_parameters(self, guid: str, rebuild: bool = False) -> QcogClient:
        self._loop.run(self._client.preloaded_training_parameters(guid, rebuild))
        return self

    def preloaded_model(self, guid: str) -> QcogClient:
        self._loop.run(self._client.preloaded_model(guid))
        return self

    def train(
        self,
        batch_size: int,
        num_passes: int,
        weight_optimization: WeightParameters | None = None,
        get_states_extra: StateParameters | None = None,
    ) -> QcogClient:
        self._loop.run(self._client.train(batch_size, num_passes, weight_optimization,
                                          get_states_extra))
        return self

    def status(self) -> str:
        return self._loop.run(self._client.status())

    def progress(self) -> dict[str, Any]:
        return self._loop.run(self._client.progress())

    def loss(self) -> list[list[float]]:
        return self._loop.run(self._client.loss())

    def cancel(self) -> QcogClient:
        self._loop.run(self._client.cancel())
        return self

    def wait_for_training(self, poll_time: float = 60,
                          timeout: float | None = None) -> QcogClient:
        self._loop.run(self._client.wait_for_training(poll_time, timeout))
        return self

    def inference(
        self, data: pd.DataFrame, parameters: InferenceParameters | Mapping[str, Any] | None
    ) -> pd.DataFrame:
        return self._loop.run(self._client.inference(data, parameters))

    # ------------------------------------------------------------ sweeps

    def start_sweep(self, data: pd.DataFrame, configs: Any, **options: Any) -> SyncSweep:
        """``AsyncQcogClient.start_sweep`` on this client's loop thread; returns at once."""
        return SyncSweep(self._loop.run(_started(self._client, data, configs, options)),
                         self._loop)

    def sweep(self, data: pd.DataFrame, configs: Any, **options: Any) -> pd.DataFrame:
        """Run a sweep to its end: the leaderboard, best first."""
        return self.start_sweep(data, configs, **options).wait()

    def attach_sweep(self, sweep_id: str, *, concurrency: int | None = None,
                     poll_time: float = 1.0) -> SyncSweep:
        return SyncSweep(self._loop.run(self._client.attach_sweep(
            sweep_id, concurrency=concurrency, poll_time=poll_time)), self._loop)


async def _started(client: AsyncQcogClient, data: pd.DataFrame, configs: Any,
                   options: dict[str, Any]) -> Sweep:
    return client.start_sweep(data, configs, **options)  # a task on the loop thread


class SyncSweep:
    """A ``Sweep`` running on a client's loop thread, without ``await``. ``on_change``
    callbacks run on that thread; ``sweep`` is the async object (for a SweepBoard)."""

    def __init__(self, sweep: Sweep, loop: LoopThread) -> None:
        self.sweep = sweep
        self._loop = loop

    def __repr__(self) -> str:
        return repr(self.sweep)

    @property
    def id(self) -> str:
        return self.sweep.id

    @property
    def rows(self) -> list[SweepRow]:
        return self.sweep.rows

    @property
    def columns(self) -> list[str]:
        return self.sweep.columns

    @property
    def metric_name(self) -> str:
        return self.sweep.metric_name

    @property
    def version(self) -> int:
        return self.sweep.version

    @property
    def done(self) -> bool:
        return self.sweep.done

    @property
    def best(self) -> SweepRow | None:
        return self.sweep.best

    @property
    def best_guid(self) -> str | None:
        return self.sweep.best_guid

    def on_change(self, callback: Callable[[Sweep], None]) -> Callable[[], None]:
        return self.sweep.on_change(callback)

    def leaderboard(self) -> pd.DataFrame:
        return self.sweep.leaderboard()

    def wait(self, timeout: float | None = None) -> pd.DataFrame:
        return self._loop.run(self.sweep.wait(), timeout)

    def cancel(self, index: int | None = None) -> None:
        self._loop.run(self.sweep.cancel(index))

    def client_for(self, index: int) -> QcogClient:
        return QcogClient(self._loop.run(self.sweep.client_for(index)), self._loop)
