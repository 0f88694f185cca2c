"""PipelineView in JupyterLab over a TrainingPipeline on the embedded simulator: every action
reaches Done in the browser, then a long pipeline is stopped with the Stop button and the
server confirms its training was cancelled."""

from __future__ import annotations

from typing import Any

from tests.browser.lab import Lab, open_and_run, run_cell_text, screenshot

SETUP = """
import numpy as np, pandas as pd
from qwidgets.client import AsyncQcogClient, TrainingPipeline
from qwidgets.widgets.pipeline_view import PipelineView

def frame(rows, seed=7):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.uniform(-1, 1, (rows, 2)), columns=["x", "y"])
    df["z"] = 0.5 * df.x - 0.3 * df.y
    return df

GRAD = {"optimization_method": "GRAD", "iterations": 2, "learning_rate": 0.1}
df = frame(2000)
client = await AsyncQcogClient.create()
pipe = TrainingPipeline(client, data=df, model_parameters={"operators": ["x", "y", "z"], "qbits": 4},
                        batch_size=250, num_passes=6, weight_optimization=GRAD,
                        get_states_extra={"state_method": "NP_EIGH"},
                        inference_data=df[["x", "y"]], name="browser-demo")
view = PipelineView(pipe)
view
"""

START = "task = pipe.start()"

# Seconds per pass (a 32-dim Hilbert space): it runs until stopped.
LONG = """
client2 = await AsyncQcogClient.create()
long = TrainingPipeline(client2, data=df, model_parameters={"operators": ["x", "y", "z"], "qbits": 5},
                        batch_size=250, num_passes=400, weight_optimization=GRAD,
                        get_states_extra={"state_method": "NP_EIGH"}, name="browser-long")
display(PipelineView(long))
long.start()
print("long pipeline started")
"""

ALL_DONE = """() => {
  const view = document.querySelector('.qw-pipeline');
  if (!view) return false;
  const steps = [...view.querySelectorAll('.qw-step')];
  return steps.length === 4 && steps.every((s) => s.dataset.state === 'Done')
    && view.querySelector('.qw-pipeline-state').textContent === 'Done';
}"""


def step(view: Any, name: str) -> Any:
    return view.locator(f".qw-step[data-action='{name}']")


def test_pipeline_view_reaches_done_then_stop_really_stops(lab: Lab, page: Any) -> None:
    url = lab.notebook("pipeline.ipynb", [SETUP, START])
    open_and_run(page, url)
    view = page.locator(".qw-pipeline").first
    view.wait_for(timeout=60_000)
    page.wait_for_function(ALL_DONE, timeout=60_000)
    for name, status in (("LoadDataset", "DatasetLoaded"), ("Train", "TrainFinished"),
                         ("Publish", "ModelPublished"), ("Serve", "Deployed")):
        assert step(view, name).locator(".qw-step-status").inner_text() == status
    train_bar = step(view, "Train").get_by_role("progressbar", name="Train progress")
    assert train_bar.get_attribute("aria-valuenow") == "100"
    assert "browser-demo v1" in step(view, "Publish").locator(".qw-detail").inner_text()
    timeline = view.locator(".qw-timeline li")
    assert "pipeline · Done · Finished" in timeline.last.inner_text()
    assert "Training" in view.locator(".qw-timeline").inner_text()
    assert view.get_by_role("button", name="Stop the pipeline now (cancels the running action)") \
        .is_disabled()
    screenshot(page, "pipeline_view_done")
    run_cell_text(page, "print('KERNEL', pipe.state.value, [a.state.value for a in pipe.actions], "
                  "pipe.forecast.shape)", "KERNEL Done ['Done', 'Done', 'Done', 'Done'] (2000, 1)")

    run_cell_text(page, LONG, "long pipeline started")
    second = page.locator(".qw-pipeline").nth(1)
    second.wait_for(timeout=30_000)
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-pipeline')[1]"
        "?.querySelector(\".qw-step[data-action='Train'] .qw-step-status\")"
        "?.textContent === 'Training'", timeout=60_000)
    stop = second.get_by_role("button", name="Stop the pipeline now (cancels the running action)")
    stop.focus()
    page.keyboard.press("Enter")  # keyboard-usable
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-pipeline')[1]"
        "?.querySelector('.qw-pipeline-state')?.textContent === 'Stopped'", timeout=60_000)
    assert step(second, "Train").locator(".qw-step-status").inner_text() == "TrainStopped"
    assert "server: cancelled" in step(second, "Train").locator(".qw-detail").inner_text()
    # 'Stopped' can render a sync before the task has ended and the Stop reply has come back
    page.wait_for_function(
        "() => document.querySelectorAll('.qw-pipeline')[1]"
        "?.querySelector('.qw-resume')?.disabled === false", timeout=30_000)
    assert second.get_by_role("button", name="Resume the pipeline from the last completed action") \
        .is_enabled()
    screenshot(page, "pipeline_view_stopped")
    run_cell_text(page, "c3 = await AsyncQcogClient.create(); await c3.preloaded_model(long.model_guid)\n"
                  "print('SERVER', await c3.status(), long.state.value)",
                  "SERVER cancelled Stopped")
