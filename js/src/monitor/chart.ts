// A light canvas line chart of the loss: per-batch line, per-pass mean points, axes with nice
// ticks, a hover (and keyboard) tooltip that reads the data in the browser, so it also works
// in an exported page with no kernel. Colours come from JupyterLab's CSS variables.

import { h } from "../shared/dom";
import { formatNumber } from "../shared/format";
import { onThemeChange } from "../shared/theme";
import { extent, logTicks, niceTicks, scale, tickLabel, type Scale } from "./scale";
import { minmaxColumns, nearestIndex, type Points } from "./series";

export interface ChartData {
  batch: Points;
  passes: Points;
  // The whole history's x range: decimated points may start after 0 and end before the last.
  xRange?: [number, number];
}

const MARGIN = { left: 58, right: 14, top: 12, bottom: 36 };
const EMPTY: Points = { x: [], y: [] };

function cssVar(el: Element, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

export class LossChart {
  readonly el: HTMLDivElement;
  readonly canvas: HTMLCanvasElement;
  readonly tooltip: HTMLDivElement;
  private data: ChartData = { batch: EMPTY, passes: EMPTY };
  private log = false;
  private hover = -1; // index into data.batch
  private xs: Scale | null = null;
  private ys: Scale | null = null;
  private observer: ResizeObserver | null = null;
  private frame = 0;
  private readonly unTheme = onThemeChange(() => this.schedule());

  constructor(private height = 220) {
    this.canvas = h("canvas", { class: "qw-chart-canvas", tabindex: 0, role: "img",
      "aria-label": "Loss chart: no values yet" });
    this.tooltip = h("div", { class: "qw-tooltip", role: "status", "aria-live": "polite" });
    this.tooltip.hidden = true;
    this.el = h("div", { class: "qw-chart" }, this.canvas, this.tooltip);
    this.canvas.style.height = `${height}px`;
    this.canvas.addEventListener("pointermove", this.onPointer);
    this.canvas.addEventListener("pointerleave", this.onLeave);
    this.canvas.addEventListener("keydown", this.onKey);
    this.canvas.addEventListener("blur", this.onLeave);
    if (typeof ResizeObserver !== "undefined") {
      this.observer = new ResizeObserver(() => this.schedule());
      this.observer.observe(this.el);
    }
  }

  setData(data: ChartData): void {
    this.data = data;
    if (this.hover >= data.batch.x.length) this.hover = -1;
    const n = data.batch.y.length;
    const last = n ? formatNumber(data.batch.y[n - 1]) : "";
    this.canvas.setAttribute("aria-label", n
      ? `Loss chart: ${n} points per batch, ${data.passes.x.length} pass means, last loss ${last}. ` +
        "Arrow keys move along the line."
      : "Loss chart: no values yet");
    this.schedule();
  }

  setLog(log: boolean): void {
    this.log = log;
    this.schedule();
  }

  // Coalesce redraws (data, resize, hover) into one per animation frame.
  schedule(): void {
    if (this.frame) return;
    const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (f: () => void) => setTimeout(f, 16);
    this.frame = raf(() => {
      this.frame = 0;
      this.draw();
    }) as unknown as number;
  }

  dispose(): void {
    this.observer?.disconnect();
    this.unTheme();
    this.canvas.removeEventListener("pointermove", this.onPointer);
    this.canvas.removeEventListener("pointerleave", this.onLeave);
    this.canvas.removeEventListener("keydown", this.onKey);
    this.canvas.removeEventListener("blur", this.onLeave);
  }

  draw(): void {
    const canvas = this.canvas;
    const width = canvas.clientWidth || this.el.clientWidth || 600;
    const height = this.height;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const text = cssVar(this.el, "--jp-ui-font-color2", "#616161");
    const grid = cssVar(this.el, "--jp-border-color2", "#e0e0e0");
    const line = cssVar(this.el, "--jp-brand-color1", "#1976d2");
    const passColor = cssVar(this.el, "--jp-warn-color1", "#f57c00");
    const font = cssVar(this.el, "--jp-ui-font-family", "system-ui, sans-serif");
    ctx.font = `11px ${font}`;
    // The colour the labels were drawn in, so a test can tell a stale chart from a fresh one.
    canvas.dataset.ink = text;
    ctx.fillStyle = text;
    const left = MARGIN.left, right = width - MARGIN.right, top = MARGIN.top, bottom = height - MARGIN.bottom;
    const { batch, passes } = this.data;
    const ext = extent(batch.y, passes.y);
    if (!ext || right <= left) {
      this.xs = this.ys = null;
      ctx.textAlign = "center";
      ctx.fillText("no loss values yet", width / 2, height / 2);
      return;
    }
    const log = this.log && ext[0] > 0;
    const seen = extent(batch.x, passes.x) ?? [0, 1];
    const range = this.data.xRange;
    const xExt: [number, number] = range ? [Math.min(range[0], seen[0]), Math.max(range[1], seen[1])] : seen;
    const xs = (this.xs = scale(xExt, [left, right]));
    const ys = (this.ys = scale(ext, [bottom, top], log));
    this.axes(ctx, xs, ys, { left, right, top, bottom }, text, grid);

    // per-batch line, decimated to the pixels it covers; non-finite values break it
    const shown = minmaxColumns(batch, xs.domain[0], xs.domain[1], Math.max(1, Math.round(right - left)));
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, top - 1, right - left, bottom - top + 2);
    ctx.clip();
    ctx.strokeStyle = line;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (let i = 0; i < shown.x.length; i++) {
      const v = shown.y[i];
      if (!Number.isFinite(v) || (log && v <= 0)) { pen = false; continue; }
      const px = xs(shown.x[i]), py = ys(v);
      if (pen) ctx.lineTo(px, py); else ctx.moveTo(px, py);
      pen = true;
    }
    if (shown.x.length === 1) ctx.arc(xs(shown.x[0]), ys(shown.y[0]), 2, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.fillStyle = passColor;
    for (let i = 0; i < passes.x.length; i++) {
      const v = passes.y[i];
      if (!Number.isFinite(v) || (log && v <= 0)) continue;
      ctx.beginPath();
      ctx.arc(xs(passes.x[i]), ys(v), 3.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.restore();
    this.legend(ctx, right, top, text, line, passColor);
    this.drawHover(ctx, { top, bottom }, line);
  }

  private axes(ctx: CanvasRenderingContext2D, xs: Scale, ys: Scale,
    box: { left: number; right: number; top: number; bottom: number }, text: string, grid: string): void {
    const { left, right, top, bottom } = box;
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = text;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    const yTicks = ys.log ? logTicks(ys.domain[0], ys.domain[1]) : niceTicks(ys.domain[0], ys.domain[1], Math.max(2, Math.round((bottom - top) / 40)));
    for (const t of yTicks) {
      const py = Math.round(ys(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(right, py); ctx.stroke();
      ctx.fillText(tickLabel(t), left - 6, py);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const xTicks = niceTicks(xs.domain[0], xs.domain[1], Math.max(2, Math.round((right - left) / 90)))
      .filter((t) => Number.isInteger(t));
    for (const t of xTicks) {
      const px = Math.round(xs(t)) + 0.5;
      ctx.beginPath(); ctx.moveTo(px, bottom); ctx.lineTo(px, bottom + 4); ctx.stroke();
      ctx.fillText(tickLabel(t), px, bottom + 6);
    }
    ctx.beginPath(); ctx.moveTo(left + 0.5, top); ctx.lineTo(left + 0.5, bottom + 0.5); ctx.lineTo(right, bottom + 0.5); ctx.stroke();
    ctx.fillText("batch", (left + right) / 2, bottom + 20);
    ctx.save();
    ctx.translate(12, (top + bottom) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText(ys.log ? "loss (log)" : "loss", 0, 0);
    ctx.restore();
  }

  private legend(ctx: CanvasRenderingContext2D, right: number, top: number, text: string, line: string, passColor: string): void {
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const x = right - 170, y = top + 6;
    ctx.strokeStyle = line; ctx.lineWidth = 1.5;
    ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 16, y); ctx.stroke();
    ctx.fillStyle = text; ctx.fillText("per batch", x + 20, y);
    ctx.fillStyle = passColor;
    ctx.beginPath(); ctx.arc(x + 92, y, 3.5, 0, 2 * Math.PI); ctx.fill();
    ctx.fillStyle = text; ctx.fillText("pass mean", x + 100, y);
  }

  private drawHover(ctx: CanvasRenderingContext2D, box: { top: number; bottom: number }, line: string): void {
    const { batch, passes } = this.data;
    const i = this.hover;
    if (i < 0 || i >= batch.x.length || !this.xs || !this.ys) {
      this.tooltip.hidden = true;
      return;
    }
    const x = batch.x[i], v = batch.y[i];
    const px = this.xs(x);
    ctx.strokeStyle = line; ctx.globalAlpha = 0.35; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(px, box.top); ctx.lineTo(px, box.bottom); ctx.stroke();
    ctx.globalAlpha = 1;
    const finite = Number.isFinite(v) && !(this.ys.log && v <= 0);
    if (finite) {
      ctx.fillStyle = line;
      ctx.beginPath(); ctx.arc(px, this.ys(v), 4, 0, 2 * Math.PI); ctx.fill();
    }
    const lines = [`batch ${formatNumber(x)}: loss ${formatNumber(v)}`];
    const j = nearestIndex(passes.x, x);
    if (j >= 0 && Math.abs(this.xs(passes.x[j]) - px) <= 8) lines.push(`pass ${j + 1} mean: ${formatNumber(passes.y[j])}`);
    this.tooltip.textContent = lines.join("\n");
    this.tooltip.hidden = false;
    const width = this.canvas.clientWidth;
    const tipX = px + 12 + 180 > width ? Math.max(0, px - 192) : px + 12;
    const tipY = finite ? Math.max(0, Math.min(this.ys(v) - 10, this.height - 44)) : box.top;
    this.tooltip.style.left = `${tipX}px`;
    this.tooltip.style.top = `${tipY}px`;
  }

  private readonly onPointer = (ev: PointerEvent): void => {
    if (!this.xs) return;
    const rect = this.canvas.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    const x = this.xs.invert(Math.min(Math.max(px, this.xs.range[0]), this.xs.range[1]));
    const i = nearestIndex(this.data.batch.x, x);
    if (i !== this.hover) {
      this.hover = i;
      this.schedule();
    }
  };

  private readonly onLeave = (): void => {
    if (this.hover === -1) return;
    this.hover = -1;
    this.schedule();
  };

  private readonly onKey = (ev: KeyboardEvent): void => {
    const n = this.data.batch.x.length;
    if (!n) return;
    const step = ev.shiftKey ? Math.max(1, Math.round(n / 20)) : 1;
    const at = this.hover < 0 ? n - 1 : this.hover;
    let next = at;
    if (ev.key === "ArrowLeft") next = Math.max(0, at - step);
    else if (ev.key === "ArrowRight") next = Math.min(n - 1, at + (this.hover < 0 ? 0 : step));
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = n - 1;
    else if (ev.key === "Escape") next = -1;
    else return;
    ev.preventDefault();
    this.hover = next;
    this.schedule();
  };
}
