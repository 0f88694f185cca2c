"""``FederatedPanel``: a federated model at a glance: its clients (registered, last seen,
updates sent), the round in progress, the aggregate versions as a table, and the validation
score per aggregate as a small chart.

    fed = await AsyncFederatedClient.create()
    panel = FederatedPanel(model_id, client=fed)
    panel                      # shows it
    panel.start()              # live: one polling task on the kernel's loop (PollingPanel)
    panel.figure()             # plotly figure of the validation scores

Every aggregate stays in the kernel (``panel.aggregates_all``); the browser gets the last
``TABLE_ROWS`` rows and a decimated score curve, at most ten times a second, and the state
is complete without any request from the browser, so a saved notebook or an exported page
shows the last state. Client uuids are shown shortened: in fma-connect a uuid identifies a
client to the service, so the full value stays out of the notebook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from traitlets import Bool, Dict, Float, Int, List, Unicode

from qwidgets.client.errors import AuthenticationError, NotFoundError
from qwidgets.errors import QwidgetsError, ValidationError
from qwidgets.protocol.federated import check_id
from qwidgets.protocol.request_kinds import Request
from qwidgets.widgets.base import bundle, escape
from qwidgets.widgets.polling import Pacing, Polled, PollingPanel

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from qwidgets.client.federated.client import AsyncFederatedClient

TABLE_ROWS = 30
MAX_POINTS = 400
REFETCH = 20  # the last aggregates are fetched again: their scores arrive after them
MAX_BACKOFF_S = 30.0
SHORT_ID = 8
T = TypeVar("T")


class FederatedPanel(PollingPanel["AsyncFederatedClient"]):
    """Live view of one federated model of a service (by default the embedded simulator)."""

    _bundle_name: ClassVar[str] = "federated_panel"
    _esm = bundle("federated_panel")

    federated_model_id = Int(0, help="Id of the federated model shown").tag(sync=True)
    info = Dict(help="The model: name, rule, aggregation, score_key, structure, counts"
                ).tag(sync=True)
    clients = List(Dict(), help="Registered clients (shortened ids), oldest first").tag(sync=True)
    current_round = Dict(help="The round in progress: version, pending updates, waiting for"
                         ).tag(sync=True)
    aggregates = List(Dict(), help=f"The last {TABLE_ROWS} aggregates, oldest first"
                      ).tag(sync=True)
    scores = List(List(), help=f"[version, validation score] per aggregate, at most "
                  f"{MAX_POINTS} points").tag(sync=True)
    live = Bool(False, help="Polling the service").tag(sync=True)
    status = Unicode("idle", help="idle, live, stopped or error").tag(sync=True)
    updated_on = Unicode("", help="Service time of the state shown (ISO 8601)").tag(sync=True)
    interval = Float(1.0, help="Seconds between polls while live").tag(sync=True)

    # retrying cannot help these: say why and stop
    stop_on = (AuthenticationError, NotFoundError, ValidationError)
    retry_on = (QwidgetsError, OSError)
    polled = "the federated model"

    def __init__(self, federated_model_id: int, client: AsyncFederatedClient | None = None,
                 **kwargs: Any) -> None:
        model_id = check_id(federated_model_id, "federated_model_id")
        interval = kwargs.get("interval", 1.0)
        if (not isinstance(interval, (int, float)) or isinstance(interval, bool)
                or not 0.05 <= interval <= 3600):
            raise ValidationError("interval", interval, "must be seconds from 0.05 to 3600",
                                  "e.g. interval=1.0")
        if client is not None and not hasattr(client, "summary"):
            raise ValidationError("client", client, "must be an AsyncFederatedClient",
                                  "create one with `await AsyncFederatedClient.create()`")
        super().__init__(federated_model_id=model_id, client=client, **kwargs)
        self.aggregates_all: list[dict[str, Any]] = []
        self._state: dict[str, Any] = {}
        self._requests.register(Request.REFRESH, self._on_refresh)
        self._requests.register(Request.LIVE, self._on_live)
        self._requests.register(Request.AGGREGATE_NOW, self._on_aggregate_now)

    @property
    def model(self) -> int:
        return int(self.federated_model_id)

    # ------------------------------------------------------------ polling

    def pacing(self) -> Pacing:
        # quiet rounds: back off up to 5 intervals; any change polls at full speed
        interval = float(self.interval)
        return Pacing(fast=interval, slow=5 * interval, max_backoff=MAX_BACKOFF_S)

    def _on_polling(self, active: bool) -> None:
        super()._on_polling(active)
        if active:
            self._stage(live=True, status="live", error="")
        else:
            self._stage(live=False, status="error" if self._staged("status") == "error"
                        else "stopped")

    def _on_failure(self, message: str) -> None:
        self._stage(error=message, status="error")

    def _on_recovered(self) -> None:
        self._stage(error="", status="live" if self.task is not None else "idle")

    def _on_refusal(self, message: str) -> None:
        self._stage(error=message, status="error", live=False)

    async def _open_client(self) -> AsyncFederatedClient:
        from qwidgets.client.federated.client import AsyncFederatedClient

        return await AsyncFederatedClient.create()

    async def _poll(self) -> Polled:
        before = (len(self.aggregates_all), self._state.get("round"),
                  self._state.get("clients"))
        await self._fetch()
        after = (len(self.aggregates_all), self._state.get("round"), self._state.get("clients"))
        return Polled.CHANGED if after != before else Polled.UNCHANGED

    async def _fetch(self) -> dict[str, Any]:
        client = await self._connection()
        keep = self.aggregates_all[:-REFETCH] if len(self.aggregates_all) > REFETCH else []
        after = int(keep[-1]["id"]) if keep else 0
        fetched: list[dict[str, Any]] = []
        while True:
            summary = await client.summary(self.model, after=after, limit=500)
            fetched.extend(summary["aggregates"])
            if not summary.get("more") or not summary["aggregates"]:
                break
            after = int(summary["aggregates"][-1]["id"])
        self.aggregates_all = keep + fetched
        self._take(summary)
        return summary

    def _take(self, summary: dict[str, Any]) -> None:
        shown = {c["uuid"]: _short(c["uuid"]) for c in summary["clients"]}
        clients = [{"id": shown[c["uuid"]], "registered_on": c["registered_on"],
                    "last_seen": c["last_seen"], "updates": c["updates"],
                    "scores": c["scores"], "pending": c["pending_updates"]}
                   for c in summary["clients"]]
        current = dict(summary["round"])
        for key in ("waiting_for", "clients_sent"):
            if key in current:
                current[key] = [shown.get(c, _short(c)) for c in current[key]]
        model = dict(summary["model"])
        current["next_aggregation_in_s"] = model.pop("next_aggregation_in_s", None)
        self._state = {"clients": clients, "round": current}
        self._stage(info=model, clients=clients, current_round=current,
                    aggregates=[_row(a) for a in self.aggregates_all[-TABLE_ROWS:]],
                    scores=_decimate([[a["version"], a["validation_score"]]
                                      for a in self.aggregates_all], MAX_POINTS),
                    updated_on=str(summary.get("now", "")))

    # ------------------------------------------------------------ browser requests

    async def _on_refresh(self) -> dict[str, Any]:
        ok = await self.refresh()
        return {"ok": ok, "error": self.error, "aggregates": len(self.aggregates_all)}

    # Requests run on the loop of the cells (see _requests.py), where the client's
    # connections and the polling task live.
    async def _on_live(self, on: bool) -> dict[str, bool]:
        if on:
            self.start()
        else:
            self.stop()
        return {"live": self.task is not None}

    async def _on_aggregate_now(self) -> dict[str, Any]:
        return await self._aggregate_now()

    async def _aggregate_now(self) -> dict[str, Any]:
        client = await self._connection()
        made = await client.aggregate_now(self.model)
        if self.task is not None:
            self.wake()  # the live loop polls at once
        else:
            await self.refresh()
        return {"aggregate": made["id"] if made else None}

    # ------------------------------------------------------------ Python views

    def figure(self) -> go.Figure:
        """The validation score per aggregate version (every aggregate the kernel holds)."""
        import plotly.graph_objects as go

        rows = [a for a in self.aggregates_all if a.get("validation_score") is not None]
        key = self.info.get("score_key", "score")
        fig = go.Figure(go.Scatter(
            x=[a["version"] for a in rows], y=[a["validation_score"] for a in rows],
            mode="lines+markers", name=key,
            customdata=[[a["id"], a["n_scores"]] for a in rows],
            hovertemplate="version %{x}<br>" + key + " %{y:.4g}<br>aggregate %{customdata[0]}"
                          "<br>%{customdata[1]} client score(s)<extra></extra>"))
        fig.update_layout(title=f"Federated model {self.model}: {self.info.get('name', '')}",
                          xaxis_title="aggregate version",
                          yaxis_title=f"validation {key} (mean over clients)",
                          template="plotly_white", height=360)
        return fig

    def static_text(self) -> str:
        latest = self.aggregates[-1] if self.aggregates else None
        score = latest.get("validation_score") if latest else None
        return (f"FederatedPanel: model {self.model} {self.info.get('name', '')!s}, "
                f"{len(self.clients)} client(s), {len(self.aggregates_all)} aggregate(s)"
                + (f", latest validation score {score:.4g}" if score is not None else ""))

    def static_html(self) -> str:
        info = self.info
        head = (f"<strong>Federated model {escape(self.model)}</strong> "
                f"{escape(info.get('name', ''))} <span class='qw-muted'>"
                f"{escape(_rule_text(info))}</span>")
        clients = "".join(
            f"<tr><td><code>{escape(c['id'])}</code></td><td>{escape(c['last_seen'])}</td>"
            f"<td>{escape(c['updates'])}</td><td>{escape(c['scores'])}</td></tr>"
            for c in self.clients)
        rows = "".join(
            f"<tr><td>{escape(a['version'])}</td><td>{escape(a['id'])}</td>"
            f"<td>{escape(a['parent'] if a['parent'] is not None else '–')}</td>"
            f"<td>{escape(a['n_clients'])}</td><td>{escape(_fmt(a['validation_score']))}</td>"
            f"<td>{escape(a['created_on'])}</td></tr>"
            for a in reversed(self.aggregates[-10:]))
        table = "border-collapse:collapse;margin:4px 0;font-size:12px"
        return (f"<div class='qw-static qw-fed-static' style='font-family:sans-serif'>"
                f"<div>{head}</div>"
                f"<div>{_svg(self.scores, info.get('score_key', 'score'))}</div>"
                f"<table style='{table}'><caption>Clients</caption><tr><th>client</th>"
                f"<th>last seen</th><th>updates</th><th>scores</th></tr>{clients}</table>"
                f"<table style='{table}'><caption>Aggregates (latest first)</caption><tr>"
                f"<th>version</th><th>id</th><th>parent</th><th>clients</th><th>score</th>"
                f"<th>created</th></tr>{rows}</table></div>")


# ---------------------------------------------------------------- helpers




def _short(client: str) -> str:
    return client[:SHORT_ID]


def _row(a: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "version", "parent", "n_clients", "n_updates", "num_samples",
            "validation_score", "n_scores", "trigger", "created_on")
    return {k: a.get(k) for k in keys}


def _decimate(points: list[list[Any]], limit: int) -> list[list[Any]]:
    """At most ``limit`` points, evenly spread, the first and the last always kept."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _fmt(value: Any) -> str:
    return "–" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _rule_text(info: dict[str, Any]) -> str:
    rule = info.get("rule")
    text = {"all_clients": "waits for all clients", "periodic": "aggregates periodically",
            "x_updates": f"waits for {info.get('x_updates')} updates"}.get(str(rule), "")
    if info.get("period_s") and rule != "periodic":
        text += ", checked"
    if info.get("period_s"):
        text += f" every {info['period_s']:g} s"
    return f"{info.get('aggregation', '')}, {text}" if text else str(info.get("aggregation", ""))


def _svg(points: list[list[Any]], label: str, width: int = 320, height: int = 120) -> str:
    """The score curve as inline SVG (numbers only, so nothing needs escaping but the label)."""
    values = [(float(v), float(s)) for v, s in points if s is not None]
    if not values:
        # say which metric: a model waiting for a key its clients never report stays empty
        return ("<span class='qw-muted'>no validation scores yet (waiting for "
                f"{escape(repr(label))} in the clients' validation results)</span>")
    xs, ys = [v for v, _ in values], [s for _, s in values]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = 6
    coords = " ".join(
        f"{pad + (x - x0) / (x1 - x0) * (width - 2 * pad):.1f},"
        f"{height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad):.1f}" for x, y in values)
    return (f"<svg width='{width}' height='{height}' role='img' aria-label='validation "
            f"{escape(label)} per aggregate version, last {ys[-1]:.4g}'>"
            f"<polyline fill='none' stroke='#1976d2' stroke-width='2' points='{coords}'/>"
            f"<text x='{pad}' y='12' font-size='10'>{escape(label)} {ys[-1]:.4g}</text></svg>")

