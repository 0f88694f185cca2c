"""ModelConfigForm in JupyterLab: pick columns, see the kernel's inline error for a bad value,
fix it, Train, and check in the kernel that the model exists and completes."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.lab import open_and_run, run_cell_text, screenshot

SETUP = """\
import numpy as np, pandas as pd
from qwidgets.widgets import ModelConfigForm
rng = np.random.default_rng(3)
df = pd.DataFrame(rng.uniform(-1, 1, (200, 2)), columns=["x", "y"])
df["z"] = 0.5 * df.x - 0.3 * df.y
df["row_id"] = range(len(df))
form = ModelConfigForm(data=df)
form"""


def test_pick_fix_and_train(lab, page):
    open_and_run(page, lab.notebook("config_form.ipynb", [SETUP]))
    form = page.locator(".qw-cf")
    expect(form).to_be_visible(timeout=60_000)

    # pick: row_id is not an operator, z is the target
    row_id = form.locator('[data-key="model.operators:row_id"]')
    expect(row_id).to_be_checked()
    row_id.uncheck()
    form.locator('[data-key="model.target_operators:z"]').check()

    # a bad value: the kernel's validator answers next to the field
    weight = form.get_by_label("pauli_weight", exact=True)
    weight.fill("5")
    weight.press("Tab")
    expect(weight).to_have_attribute("aria-invalid", "true")
    message_id = weight.get_attribute("aria-describedby").split()[0]
    message = form.locator(f"#{message_id}")
    expect(message).to_contain_text("pauli_weight: got 5; must be <= qbits (2)")
    expect(message).to_contain_text("Fix:")
    expect(form.locator(".qw-cf-status")).to_contain_text("Train is off: fix the field marked in red")
    expect(form.get_by_role("button", name="Train a model with these parameters")).to_be_disabled()
    screenshot(page, "config_form_error")

    # the cheap check answers while typing, before anything is sent
    qbits = form.get_by_label("qbits", exact=True)
    qbits.fill("12")
    expect(qbits).to_have_attribute("aria-invalid", "true")
    qbits.fill("2")
    qbits.press("Tab")

    weight.fill("1")
    weight.press("Tab")
    expect(weight).not_to_have_attribute("aria-invalid", "true")
    expect(message).to_have_text("")
    passes = form.get_by_label("num_passes *", exact=True)
    passes.fill("2")
    passes.press("Tab")
    expect(form.locator(".qw-cf-status")).to_contain_text("Ready")

    form.get_by_role("button", name="Train a model with these parameters").click()
    guid = form.locator(".qw-cf-guid")
    expect(guid).to_have_text(re.compile(r"^[0-9a-f][0-9a-f-]{7,}$"), timeout=30_000)
    shown = guid.inner_text()

    form.locator("summary", has_text="Copy as code").click()
    expect(form.locator(".qw-cf-source")).to_contain_text("client.pauli(")
    expect(form.locator(".qw-cf-source")).to_contain_text("await client.data(df[['x', 'y', 'z']])")
    form.get_by_role("button", name="Copy the Python code").click()
    expect(form.locator(".qw-cf-copy-note")).not_to_have_text("")
    screenshot(page, "config_form_trained")

    run_cell_text(page, "print('kernel has', form.model_guid)", f"kernel has {shown}")
    run_cell_text(
        page,
        "c = form.last_client\nawait c.wait_for_training(poll_time=0.1)\n"
        "print('ended', await c.status(), c.model['operators'], c.model['target_operators'], "
        "c.model['pauli_weight'], c.training_parameters['parameters']['num_passes'])",
        "ended completed ['x', 'y', 'z'] ['z'] 1 2")
