"""Light and dark JupyterLab themes: the loss chart (the one canvas we draw) redraws in the new
theme's colours when the theme is switched, and every status badge keeps WCAG AA contrast
(4.5:1) in both themes, measured from the colours the browser renders. One notebook for the
module; every test leaves the theme light, as the other modules expect it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.lab import CONTRASTS, Lab, open_and_run, screenshot, set_theme

SETUP = """
from qwidgets.widgets.gauges import DeviceQueueGauges
from qwidgets.widgets.monitor import TrainingMonitor
from qwidgets.widgets.timeline import JobTimeline
import ipywidgets
panels = []
for state in ["completed", "failed", "cancelled", "processing", "disconnected", "idle"]:
    m = TrainingMonitor(title=state)
    m.push([3.0, 2.0, 1.5, 1.2, 1.1]); m.end_pass(); m.update(status=state); m.finish()
    panels.append(m)
for status in ["QUEUED", "RUNNING", "COMPLETED", "FAILED", "CANCELLING", "CANCELLED"]:
    t = JobTimeline(autostart=False); t.status = status; t.job_name = status
    panels.append(t)
g = DeviceQueueGauges(autostart=False)
g.devices = [dict(arn=f"arn:{s}", name=s, provider="p", type="QPU", status=s, stale=False,
                  queues=[], mine=[]) for s in ["ONLINE", "OFFLINE", "RETIRED"]]
panels.append(g)
ipywidgets.VBox(panels)
"""

# The chart's axis labels as drawn: every painted pixel of the left margin (tick labels and
# the axis title, nothing else is drawn there) against the label colour the theme asks for.
# A transparent canvas keeps each pixel's own colour, with the antialiasing in its alpha.
INK = """() => {
  const canvas = document.querySelector('.qw-monitor .qw-chart-canvas');
  const probe = document.createElement('div');
  probe.style.color = 'var(--jp-ui-font-color2)';
  canvas.parentElement.append(probe);
  const want = getComputedStyle(probe).color.match(/[\\d.]+/g).slice(0, 3).map(Number);
  probe.remove();
  const dpr = canvas.width / canvas.clientWidth;
  const img = canvas.getContext('2d').getImageData(0, 0, Math.floor(50 * dpr), canvas.height).data;
  let painted = 0, matching = 0;
  for (let i = 0; i < img.length; i += 4) {
    if (img[i + 3] < 40) continue;
    painted++;
    const off = [0, 1, 2].reduce((sum, k) => sum + Math.abs(img[i + k] - want[k]), 0);
    if (off < 40) matching++;
  }
  return { want: want.join(','), painted, matching, ok: painted > 20 && matching / painted > 0.9 };
}"""

BADGES = 6 + 6 + 3


@pytest.fixture(scope="module")
def panels(lab: Lab, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    open_and_run(page, lab.notebook("themes.ipynb", [SETUP]))
    page.locator(".qw-badge").nth(BADGES - 1).wait_for(timeout=60_000)
    # A fixed width: a theme switch that happened to resize the chart would redraw it anyway,
    # and hide a chart that ignores the theme.
    page.evaluate("() => document.querySelectorAll('.qw-monitor')"
                  ".forEach((m) => { m.style.width = '700px'; })")
    try:
        yield page
    finally:
        set_theme(page, dark=False)
        context.close()


def _ink_matches(page: Any) -> None:
    try:
        page.wait_for_function(f"() => ({INK})().ok", timeout=10_000)
    except Exception as exc:
        raise AssertionError(f"the chart's labels are not in the theme's colour: "
                             f"{page.evaluate(INK)}") from exc


def test_the_loss_chart_redraws_in_the_new_theme(panels: Any) -> None:
    page = panels
    _ink_matches(page)
    light = page.evaluate(INK)["want"]
    set_theme(page, dark=True)
    try:
        _ink_matches(page)  # labels left in the light theme's ink would fail here
        dark = page.evaluate(INK)["want"]
        assert dark != light, (light, dark)
        page.locator(".qw-monitor").first.scroll_into_view_if_needed()
        screenshot(page, "theme_dark_monitor")
    finally:
        set_theme(page, dark=False)
    _ink_matches(page)
    assert page.evaluate(INK)["want"] == light


def test_badges_reach_wcag_aa_in_both_themes(panels: Any) -> None:
    page = panels
    for dark in (False, True):
        set_theme(page, dark=dark)
        badges = page.evaluate(CONTRASTS, ".qw-badge")
        assert len(badges) >= BADGES, badges
        weak = [b for b in badges if b["ratio"] < 4.5]
        assert not weak, f"{'dark' if dark else 'light'} theme: badges under 4.5:1: {weak}"
    screenshot(page, "theme_dark_badges")
    set_theme(page, dark=False)
