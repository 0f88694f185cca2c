"""Hybrid jobs run for real: each waits in its device's jobs queue, then runs in a worker
thread, off the event loop, with its lifecycle written to the store as Braket's events:

    QUEUED_FOR_EXECUTION -> STARTING_INSTANCE -> DOWNLOADING_DATA -> RUNNING
        -> UPLOADING_RESULTS -> COMPLETED | FAILED | MAX_RUNTIME_EXCEEDED | CANCELLED

A built-in entry point runs in the worker thread and gets a ``should_stop`` that turns true on
a cancel, at the job's ``maxRuntimeInSeconds`` and at server shutdown; the engine checks it
between chunks of rows, so each of the three takes effect mid-run. Uploaded code (only with a
``code`` runner: the server's ``--run-job-code``) runs in a sandboxed process that the same
three kill (``job_code``). A job interrupted by a shutdown (or a crash) goes back to the queue
and starts again on the next server, at most ``max_attempts`` times.

Every job's results end up where amazon-braket-sdk reads them, ``<outputDataConfig.s3Path>/
output/model.tar.gz`` in the caller's S3, and its output (metrics lines for the built-in) in
its log (``logs_routes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import pandas as pd

from qwidgets.errors import TrainingCancelled, ValidationError
from qwidgets.protocol.hybrid_jobs import (
    CANCELLED,
    CANCELLING,
    COMPLETED,
    FAILED,
    QUEUED,
    RUN_CODE_FLAG,
    RUNNING,
    JobSpec,
    dataset_guid,
    runs_uploaded_code,
)
from qwidgets.protocol.qcog_wire import CsvPayload
from qwidgets.sim.braket import job_workdir
from qwidgets.sim.braket.aws_wire import AwsError
from qwidgets.sim.braket.job_code import CodeRunner, new_job_token
from qwidgets.sim.braket.job_programs import JobContext, load_entry_point
from qwidgets.sim.braket.job_store import JobStore
from qwidgets.sim.braket.job_workdir import JobSetupError, Workdir
from qwidgets.sim.braket.s3_store import S3Store
from qwidgets.sim.server.store import Store

log = logging.getLogger("qwidgets.sim.braket.job_runner")


class _Run:
    """The stop switches of one running job."""

    def __init__(self, deadline: float) -> None:
        self.cancel = threading.Event()
        self.deadline = deadline
        self.shutdown = False

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def should_stop(self) -> bool:
        return self.cancel.is_set() or self.shutdown or self.expired()


class JobQueue(Protocol):
    """The device queues a job waits in (``queues.DeviceQueues``): used on the event loop only."""

    def enqueue(self, device_arn: str, kind: Any, item_id: str, priority: Any = ...) -> Any: ...

    def remove(self, item_id: str) -> bool: ...

    def finish_job(self, item_id: str) -> bool: ...


class JobRunner:
    """The server's hybrid jobs. A job waits in its device's jobs queue (``JobQueue``, which
    other users' jobs share); when the queue starts it (``started``), a worker thread runs it.

    ``create``, ``cancel``, ``started`` and ``recover`` run on the event loop, like the queues;
    the worker threads hand the queue back its slot through ``loop.call_soon_threadsafe``."""

    def __init__(self, store: Store, queue: JobQueue, *, workers: int = 2,
                 metrics_interval: float = 0.25, max_attempts: int = 3,
                 s3: S3Store | None = None, code: CodeRunner | None = None) -> None:
        self.jobs = JobStore(store)
        self.store = store
        self.queue = queue
        self.s3 = s3
        self.code = code
        # the URL this server answers on, which a job's code calls (its AWS endpoint)
        self.endpoint: str | None = None
        self.runs_dir = store.directory / "job-runs"
        self._tokens: dict[str, str] = {}  # AMZN_BRAKET_JOB_TOKEN -> job ARN
        self.metrics_interval = metrics_interval
        self.max_attempts = max_attempts
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="qwidgets-hybrid-job")
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------ control (event loop)

    def create(self, ns: str, arn: str, spec: JobSpec, client_token: str | None) -> dict[str, Any]:
        """Store a new job and put it at the tail of its device's jobs queue. Raises
        ``JobExistsError`` if the name is taken."""
        row = self.jobs.add(ns, arn, spec, client_token, (
            "QUEUED_FOR_EXECUTION", f"Queued for execution on {spec.device}"))
        try:
            self.queue.enqueue(spec.device, "job", arn)
        except (KeyError, ValueError) as exc:  # the route checked the device: not expected
            reason = f"the device's jobs queue refused the job ({exc})"
            self.jobs.transition(arn, FAILED, when=(QUEUED,), ended=True,
                                 failure_reason=reason, event=("FAILED", reason))
        return row

    def started(self, arn: str) -> None:
        """The queue started the job: run it in a worker thread."""
        self._attach()
        row = self.jobs.job(arn)
        if row is None or row["status"] != QUEUED:
            self.queue.finish_job(arn)  # cancelled meanwhile: give the slot back
            return
        with self._lock:
            if self._closing:
                return  # stays QUEUED in the store; the next server queues it again
            run = _Run(time.monotonic() + row["spec"]["stoppingCondition"]["maxRuntimeInSeconds"])
            self._runs[arn] = run
            self._pool.submit(self._run, row, run)

    def cancel(self, arn: str) -> str | None:
        """``CANCELLED`` for a queued job (at once), ``CANCELLING`` for a running one (until
        its thread stops); None if the job had already ended."""
        self.queue.remove(arn)
        if self.jobs.transition(arn, CANCELLED, when=(QUEUED,), ended=True,
                                event=("CANCELLED", "Cancelled while queued")):
            return CANCELLED  # a started job whose thread had not begun finds it cancelled
        if not self.jobs.transition(arn, CANCELLING, when=(RUNNING,)):
            row = self.jobs.job(arn)
            return CANCELLING if row is not None and row["status"] == CANCELLING else None
        with self._lock:
            run = self._runs.get(arn)
        if run is None:  # no thread owns it (cannot normally happen): finish here
            self.jobs.transition(arn, CANCELLED, when=(CANCELLING,), ended=True,
                                 event=("CANCELLED", "Cancelled"))
        else:
            run.cancel.set()
        return CANCELLING

    def job_for_token(self, token: str) -> str | None:
        """The job whose code holds ``token`` (its quantum tasks name it as ``jobToken``)."""
        return self._tokens.get(token)

    def recover(self) -> None:
        """Queue again what a previous server left queued or running (a run starts over)."""
        self._attach()
        shutil.rmtree(self.runs_dir, ignore_errors=True)  # working directories of a crash
        for row in self.jobs.unfinished():
            arn = row["arn"]
            if row["status"] == CANCELLING:
                self.jobs.transition(arn, CANCELLED, when=(CANCELLING,), ended=True,
                                     event=("CANCELLED", "Cancelled (the simulator stopped "
                                            "while cancelling)"))
            elif row["attempts"] >= self.max_attempts:
                reason = (f"the simulator stopped during this job {row['attempts']} times; "
                          "giving up. Create a smaller job (fewer passes or rows).")
                self.jobs.transition(arn, FAILED, when=(RUNNING,), ended=True,
                                     failure_reason=reason, event=("FAILED", reason))
            else:
                self.jobs.requeue(arn, "Queued again: the simulator stopped while the job ran; "
                                  "it starts over from the beginning", release_attempt=False)
        for row in self.jobs.queued_jobs():
            try:
                self.queue.enqueue(row["device"], "job", row["arn"])
            except (KeyError, ValueError) as exc:
                reason = f"the device {row['device']} no longer takes jobs ({exc})"
                self.jobs.transition(row["arn"], FAILED, when=(QUEUED,), ended=True,
                                     failure_reason=reason, event=("FAILED", reason))

    def running(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def shutdown(self) -> None:
        """Stop every running job (each goes back to the queue) and wait for the threads."""
        with self._lock:
            self._closing = True
            for run in self._runs.values():
                run.shutdown = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _attach(self) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()

    def _done(self, arn: str) -> None:
        with self._lock:
            self._runs.pop(arn, None)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(self.queue.finish_job, arn)

    # ------------------------------------------------------------ a job (worker thread)

    def _run(self, row: dict[str, Any], run: _Run) -> None:
        arn = row["arn"]
        try:
            self._lifecycle(row, run)
        except Exception:  # the job must never stay RUNNING because of a bug here
            log.exception("hybrid job %s: unexpected error", arn)
            reason = "internal error in the simulator's job runner; it is logged on the server"
            self.jobs.transition(arn, FAILED, when=(RUNNING, CANCELLING), ended=True,
                                 failure_reason=reason, event=("FAILED", reason))
        finally:
            self._done(arn)

    def _lifecycle(self, row: dict[str, Any], run: _Run) -> None:
        arn, spec = row["arn"], row["spec"]
        script = spec["algorithmSpecification"]["scriptModeConfig"]
        instance = spec["instanceConfig"]
        limit = spec["stoppingCondition"]["maxRuntimeInSeconds"]
        uploaded = runs_uploaded_code(JobSpec.from_wire(spec))
        where = "a sandboxed process" if uploaded else "a worker thread of the simulator"
        if not self.jobs.transition(
                arn, RUNNING, when=(QUEUED,), started=True, attempt=True,
                event=("STARTING_INSTANCE", f"Starting {where} for "
                       f"{instance['instanceCount']} x {instance['instanceType']} "
                       f"({instance['volumeSizeInGb']} GB)")):
            return  # cancelled before a worker got to it
        run.deadline = time.monotonic() + limit
        if uploaded:
            self._run_uploaded(row, run, limit)
            return
        writer = _MetricsWriter(self.jobs, arn, self.metrics_interval)
        try:
            main = load_entry_point(script["entryPoint"])
            self._check(run)
            self.jobs.add_event(arn, "DOWNLOADING_DATA", _describe_inputs(spec))
            inputs = self._inputs(row)
            self._check(run)
            self.jobs.add_event(arn, "RUNNING", f"Running {script['entryPoint']} from "
                                f"{script['s3Uri']}")
            context = JobContext(
                job_name=spec["jobName"], device=row["device"],
                hyperparameters=dict(spec.get("hyperParameters") or {}), input_data=inputs,
                should_stop=run.should_stop, log_metric=writer)
            result = main(context)
            writer.flush()
            self._check(run)
        except TrainingCancelled:
            writer.flush()
            self._stopped(arn, run, limit)
            return
        except ValidationError as exc:
            writer.flush()
            self._fail(arn, str(exc))
            return
        except Exception as exc:
            writer.flush()
            log.exception("hybrid job %s failed", arn)
            self._fail(arn, f"the algorithm raised {type(exc).__name__}: {exc}")
            return
        summary = _summary(result)
        self.jobs.add_event(arn, "UPLOADING_RESULTS", "Saving the result"
                            + (f": {summary}" if summary else ""))
        self.jobs.set_result(arn, result)
        self._save_builtin_result(row, result)
        self._complete(arn, "Completed" + (f": {summary}" if summary else ""))

    def _complete(self, arn: str, message: str) -> None:
        if not self.jobs.transition(arn, COMPLETED, when=(RUNNING,), ended=True,
                                    event=("COMPLETED", message)):
            # a cancel arrived after the algorithm's last check: the user's request wins
            self.jobs.transition(arn, CANCELLED, when=(CANCELLING,), ended=True,
                                 event=("CANCELLED", "Cancelled"))

    def _save_builtin_result(self, row: dict[str, Any], result: Any) -> None:
        """The result as ``save_job_result`` would have written it, for ``job.result()``."""
        if self.s3 is None:
            return
        try:
            job_workdir.save_result(self.s3, row["ns"], row["spec"], result,
                                    region=row["arn"].split(":")[3])
        except JobSetupError as exc:
            self.jobs.add_logs(row["arn"], [(int(time.time() * 1000), str(exc))])

    def _run_uploaded(self, row: dict[str, Any], run: _Run, limit: int) -> None:
        arn, spec = row["arn"], row["spec"]
        script = spec["algorithmSpecification"]["scriptModeConfig"]
        if self.code is None or self.s3 is None:  # the route refuses these: a restarted server
            self._fail(arn, f"this server does not run uploaded job code: start it with "
                       f"{RUN_CODE_FLAG}")
            return
        region = arn.split(":")[3]
        workdir = Workdir.create(self.runs_dir)
        token = new_job_token()
        try:
            loaded = job_workdir.fill(workdir, self.s3, self.store, row["ns"], spec)
            self.jobs.add_event(arn, "DOWNLOADING_DATA", loaded)
            self._check(run)
            self.jobs.add_event(arn, "RUNNING", f"Running {script['entryPoint']} from "
                                f"{script['s3Uri']} with Python {sys.version.split()[0]} "
                                "(the simulator's, in place of the container image)")
            self._tokens[token] = arn
            outcome = self.code.run(row, workdir, endpoint=self.endpoint or "http://127.0.0.1:9",
                                    region=region, job_token=token,
                                    should_stop=run.should_stop)
            if run.shutdown:
                raise TrainingCancelled("server shutdown")
            self.jobs.add_event(arn, "UPLOADING_RESULTS", "Uploading the results directory")
            uri, persisted = job_workdir.upload_outputs(workdir, self.s3, row["ns"], spec, region)
            if persisted is not None:
                self.jobs.set_result(arn, persisted)
        except TrainingCancelled:
            self._stopped(arn, run, limit)
            return
        except (JobSetupError, AwsError) as exc:  # its S3 objects, its archive, its sandbox
            self._fail(arn, str(exc))
            return
        finally:
            workdir.remove()
        if outcome.exit_code is None:
            self._stopped(arn, run, limit)
        elif outcome.exit_code != 0:
            self._fail(arn, outcome.failure_reason())
        else:
            self._complete(arn, f"Completed: results in {uri}")

    def _check(self, run: _Run) -> None:
        if run.should_stop():
            raise TrainingCancelled("stop requested")

    def _stopped(self, arn: str, run: _Run, limit: int) -> None:
        if self.jobs.transition(arn, CANCELLED, when=(CANCELLING,), ended=True,
                                event=("CANCELLED", "Cancelled while running")):
            return
        if run.shutdown:
            self.jobs.requeue(arn, "Queued again: the simulator stopped while the job ran; it "
                              "starts over from the beginning", release_attempt=True)
            log.info("hybrid job %s interrupted by shutdown; queued again", arn)
            return
        if run.expired():
            reason = (f"The job ran longer than its stoppingCondition.maxRuntimeInSeconds "
                      f"({limit} s) and was stopped")
            self.jobs.transition(arn, FAILED, when=(RUNNING,), ended=True,
                                 failure_reason=reason, event=("MAX_RUNTIME_EXCEEDED", reason))
            return
        self._fail(arn, "the algorithm stopped without a cancel, a shutdown or a time limit")

    def _fail(self, arn: str, reason: str) -> None:
        if not self.jobs.transition(arn, FAILED, when=(RUNNING,), ended=True,
                                    failure_reason=reason, event=("FAILED", reason)):
            self.jobs.transition(arn, CANCELLED, when=(CANCELLING,), ended=True,
                                 event=("CANCELLED", "Cancelled"))

    def _inputs(self, row: dict[str, Any]) -> dict[str, pd.DataFrame]:
        out: dict[str, pd.DataFrame] = {}
        for channel in row["spec"].get("inputDataConfig") or []:
            uri = channel["dataSource"]["s3DataSource"]["s3Uri"]
            guid = dataset_guid(uri)
            stored = self.store.dataset_csv(row["ns"], guid) if guid else None
            if stored is None:
                raise ValidationError(f"inputDataConfig.{channel['channelName']}", uri,
                                      "names no dataset of this caller (deleted?)",
                                      "upload the dataset again and create a new job")
            out[channel["channelName"]] = CsvPayload(*stored).frame()
        return out


class _MetricsWriter:
    """``log_metric`` for the entry point: buffered, written at most every ``interval`` s."""

    def __init__(self, jobs: JobStore, arn: str, interval: float) -> None:
        self.jobs = jobs
        self.arn = arn
        self.interval = interval
        self._points: list[tuple[str, float, int, float]] = []
        self._last = 0.0

    def __call__(self, name: str, value: float, iteration: int) -> None:
        self._points.append((str(name), float(value), int(iteration), time.time()))
        if time.monotonic() - self._last >= self.interval:
            self.flush()

    def flush(self) -> None:
        points, self._points = self._points, []
        self._last = time.monotonic()
        self.jobs.add_metrics(self.arn, points)
        # the lines braket.jobs.metrics.log_metric prints, so the job's log shows them too
        self.jobs.add_logs(self.arn, [
            (int(when * 1000), f"Metrics - timestamp={when}; {name}={value}; "
             f"iteration_number={iteration};") for name, value, iteration, when in points])


def _describe_inputs(spec: dict[str, Any]) -> str:
    channels = spec.get("inputDataConfig") or []
    if not channels:
        return "No input channels: the algorithm makes its own data"
    names = ", ".join(f"'{c['channelName']}' ({c['dataSource']['s3DataSource']['s3Uri']})"
                      for c in channels)
    return f"Loading input channels {names} from the simulator's store"


def _summary(result: Any) -> str:
    if not isinstance(result, dict):
        return ""
    parts = []
    for key, label in (("final_loss", "final loss"), ("num_passes", "passes"), ("rows", "rows")):
        value = result.get(key)
        if isinstance(value, float):
            parts.append(f"{label} {value:.6g}")
        elif isinstance(value, int):
            parts.append(f"{label} {value}")
    return ", ".join(parts)

