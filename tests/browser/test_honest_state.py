"""What the dashboard shows agrees with its public attributes at every step, in JupyterLab:
Train is off (and says why) while a field is wrong, bounds read as written, the form's status
follows the training to its end, the grid's info line counts the rows it shows even when
drawn hidden, and a cancelled training leaves no forecast on screen or in `dash.forecast`."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from tests.browser.lab import Lab, console_errors, open_and_run, ours, run_cell_text, screenshot

SETUP = """
import numpy as np, pandas as pd, qwidgets
rng = np.random.default_rng(5)
df = pd.DataFrame(rng.uniform(-1, 1, (300, 2)), columns=["x", "y"])
df["z"] = 0.7 * df.x - 0.2 * df.y
dash = qwidgets.dashboard(df)
dash.form.value = {"model": {"model_name": "pauli", "operators": ["x", "y", "z"],
                             "target_operators": ["z"]}, "batch_size": 100, "num_passes": 3}
dash
"""

INFO = re.compile(r"rows 1–(\d+) of")


def _shown_rows(grid: Any) -> int:
    text = grid.locator(".qw-grid-info").inner_text()
    match = INFO.search(text)
    assert match, f"info line: {text!r}"
    return int(match.group(1))


def test_what_is_shown_agrees_with_the_kernel(lab: Lab, page: Any) -> None:
    errors = console_errors(page)
    open_and_run(page, lab.notebook("honest.ipynb", [SETUP]))
    form = page.locator(".qw-cf")
    form.wait_for(timeout=60_000)
    train = form.get_by_role("button", name="Train a model with these parameters")
    status = form.locator(".qw-cf-status")
    expect(train).to_be_enabled()

    # Two wrong fields: Train is off and the status line says why; the seed's bound as written.
    seed = form.locator('[data-key="model.seed"]')
    seed.fill("5000000000")
    seed_message = form.locator(f"#{seed.get_attribute('aria-describedby').split()[0]}")
    expect(seed_message).to_contain_text("4294967295")
    seed.press("Tab")
    batch = form.locator('[data-key="batch_size"]')
    batch.fill("0")
    batch.press("Tab")
    expect(train).to_be_disabled()
    expect(status).to_contain_text("fix the 2 fields marked in red")
    expect(seed_message).to_contain_text("4294967295")  # now the kernel's own message
    expect(seed_message).not_to_contain_text("e+09")
    run_cell_text(page, "print('STATE', dash.form.status, len(dash.form.errors))", "STATE invalid 2")
    seed.fill("42")
    seed.press("Tab")
    batch.fill("100")
    batch.press("Tab")
    expect(train).to_be_enabled()

    # Trained: the form says so (not "Training started"), as the kernel does.
    train.click()
    badge = page.locator(".qw-monitor .qw-badge")
    expect(badge).to_have_text("completed", timeout=90_000)
    expect(status).to_contain_text("Training completed.", timeout=30_000)
    expect(status).not_to_contain_text("Training started")
    run_cell_text(page, "print('FORM', dash.form.status)", "FORM completed")

    # The grid's info line counts the rows drawn, also when it was drawn while hidden.
    grid = page.locator(".qw-grid").first
    grid.locator(".qw-grid-row:not(.qw-grid-loading)").first.wait_for(timeout=60_000)
    shown = _shown_rows(grid)
    assert shown > 1
    grid.evaluate("(g) => { g.closest('.jp-OutputArea-output').style.display = 'none'; }")
    run_cell_text(page, "dash.grid.sort_by = 'z'; print('SORTED', dash.grid.sort_by)", "SORTED z")
    page.wait_for_timeout(500)
    assert _shown_rows(grid) == shown
    grid.evaluate("(g) => { g.closest('.jp-OutputArea-output').style.display = ''; }")
    page.wait_for_timeout(300)
    assert _shown_rows(grid) == shown
    screenshot(page, "honest_trained")

    # A cancelled training: no forecast on screen, none in the attribute, and the form agrees.
    run_cell_text(page, "big = pd.concat([df] * 40, ignore_index=True); dash.form.data = big; "
                  "dash.form.value = {**dash.form.value, 'num_passes': 400, 'batch_size': 50}; "
                  "print('READY', dash.form.status)", "READY ready")
    train.click()
    expect(badge).to_have_text("processing", timeout=60_000)
    expect(page.locator(".qw-grid")).to_have_count(0)
    page.locator(".qw-monitor button.qw-cancel").click()
    expect(badge).to_have_text("cancelled", timeout=60_000)
    expect(page.locator(".qw-dashboard-status")).to_contain_text("no forecast")
    expect(status).to_contain_text("Training cancelled.", timeout=30_000)
    run_cell_text(page, "print('FORECAST', dash.forecast is None, dash.grid is None)",
                  "FORECAST True True")
    screenshot(page, "honest_cancelled")
    assert ours(errors) == []
