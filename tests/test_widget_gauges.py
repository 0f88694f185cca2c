"""DeviceQueueGauges against the real simulator on loopback: every device's status, type and
queues; the cap with "N more"; your own task highlighted on its device's gauge; one polling
task on the loop with backoff while the service is down; throttled messages; the static form;
no secret in the synced state; the bundle's size."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from qwidgets.client.braket.devices import AsyncDeviceClient
from qwidgets.client.retry import RetryPolicy
from qwidgets.errors import ValidationError
from qwidgets.sim import SimServer
from qwidgets.widgets.base import bundle
from qwidgets.widgets.gauges import DeviceQueueGauges
from tests.widget_support import Wire, until

AURORA = "arn:aws:braket:us-east-1::device/qpu/qwidgets/Aurora-12"
CEDAR = "arn:aws:braket:us-west-1::device/qpu/qwidgets/Cedar-8"
SV1 = "arn:aws:braket:::device/quantum-simulator/amazon/sv1"
FAST = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02)


@pytest.fixture
async def client(server: SimServer) -> AsyncIterator[AsyncDeviceClient]:
    async with await AsyncDeviceClient.create(endpoint=server.url, token=server.token,
                                              retry=FAST) as running:
        yield running


async def polled(client: AsyncDeviceClient, **options: Any) -> DeviceQueueGauges:
    gauges = DeviceQueueGauges(client=client, autostart=False, **options)
    assert await gauges.refresh() is True
    gauges._throttle.finish()
    return gauges


def by_name(gauges: DeviceQueueGauges) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for d in gauges.devices}


async def test_every_device_with_status_type_and_queues(client: AsyncDeviceClient) -> None:
    gauges = await polled(client)
    devices = by_name(gauges)
    assert list(devices) == ["SV1", "DM1", "TN1", "Aurora-12", "Cedar-8", "Dune-20", "Ember-5"]
    assert gauges.more == 0
    assert (devices["SV1"]["type"], devices["SV1"]["status"]) == ("SIMULATOR", "ONLINE")
    assert devices["Dune-20"]["status"] == "OFFLINE"
    assert devices["Ember-5"]["status"] == "RETIRED"
    aurora = {q["key"]: q for q in devices["Aurora-12"]["queues"]}
    assert set(aurora) == {"normal", "priority", "jobs"}
    assert (aurora["normal"]["raw"], aurora["normal"]["value"], aurora["normal"]["display"]) == (
        ">4000", 4000, "4000+")
    assert aurora["normal"]["lower_bound"]
    assert aurora["normal"]["approximate"]
    assert aurora["jobs"]["display"] == "1000+"
    assert gauges.updated_at is not None
    assert gauges.error == ""
    gauges.close()


async def test_a_cap_on_devices_keeps_yours_in_view(client: AsyncDeviceClient) -> None:
    task = await client.create_task(CEDAR, "OPENQASM 3.0; qubit q; h q;", shots=5)
    gauges = await polled(client, max_devices=3, track_tasks=[task])
    names = [d["name"] for d in gauges.devices]
    assert len(names) == 3
    assert "Cedar-8" in names  # your task's device comes before the catalog order
    assert gauges.more == 4
    cedar = by_name(gauges)["Cedar-8"]
    (mine,) = cedar["mine"]
    assert mine["kind"] == "task"
    assert mine["arn"] == task.arn
    assert mine["queue"] == "normal"
    assert mine["position"]["value"] > 10
    assert "4 more" in gauges.static_text()
    assert "4 more device(s) not shown" in gauges.static_html()
    await task.cancel()
    await gauges.refresh()
    gauges._throttle.finish()
    (after,) = by_name(gauges)["Cedar-8"]["mine"]
    assert after["status"] in ("CANCELLING", "CANCELLED")
    assert after["position"]["value"] is None
    assert "does not show queue position" in after["message"]
    gauges.close()


async def test_a_finished_task_is_no_longer_polled(client: AsyncDeviceClient) -> None:
    task = await client.create_task(SV1, "OPENQASM 3.0; qubit q; x q;", shots=3)
    await task.result(timeout=30)
    gauges = await polled(client, device_arns=[SV1], track_tasks=[task.arn])
    assert [d["name"] for d in gauges.devices] == ["SV1"]
    assert by_name(gauges)["SV1"]["mine"][0]["status"] == "COMPLETED"
    before = client.http_client.attempts
    await gauges.refresh()
    assert client.http_client.attempts - before == 1  # the device only, not the ended task
    with pytest.raises(ValidationError, match="device_arns"):
        await DeviceQueueGauges(client=client, device_arns=["arn:nope"], autostart=False)._list_devices(
            client)
    gauges.close()


async def test_one_polling_task_on_the_loop(client: AsyncDeviceClient) -> None:
    threads = threading.active_count()
    gauges = DeviceQueueGauges(client=client, poll_interval=0.5)
    task = gauges.task
    assert task is not None
    assert gauges.start() is task  # one polling task, however often start() is called
    await until(lambda: gauges.polls >= 3, 10)
    assert gauges.polling
    assert threading.active_count() == threads  # no thread per device, no thread at all
    gauges.paused = True
    await asyncio.sleep(0.1)
    paused_at = gauges.polls
    await asyncio.sleep(0.8)
    assert gauges.polls == paused_at
    gauges.poll_interval = 60.0
    gauges.paused = False
    await until(lambda: gauges.polls > paused_at, 10)  # resuming wakes it, no 60 s wait
    gauges.close()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    assert task.done()
    assert not gauges.polling


async def test_backoff_while_the_service_is_down() -> None:
    async with await AsyncDeviceClient.create(endpoint="http://127.0.0.1:9", token="t",
                                              retry=FAST) as dead:
        gauges = DeviceQueueGauges(client=dead, autostart=False, poll_interval=1.0)
        assert await gauges.refresh() is False
        assert await gauges.refresh() is False
        gauges._throttle.finish()
        assert gauges.failures == 2
        assert "cannot read the queues" in gauges.error
        waits = [gauges.pacing().backoff(gauges.failures) for _ in range(50)]
        assert min(waits) >= 2.0  # full jitter on the doubled interval
        assert max(waits) <= 4.0
        assert len(set(waits)) > 1
        assert gauges.pacing().backoff(30) <= 60.0
        gauges.close()


async def test_updates_are_throttled_and_the_last_one_is_sent(client: AsyncDeviceClient) -> None:
    gauges = DeviceQueueGauges(client=client, autostart=False)
    wire = Wire(gauges)
    started = time.monotonic()
    for i in range(200):
        gauges._stage(more=i)
        await asyncio.sleep(0.002)
    gauges._throttle.finish()
    elapsed = time.monotonic() - started
    sent = [u for u in wire.updates() if "more" in u]
    assert len(sent) <= elapsed * 10 + 2
    assert sent[-1]["more"] == 199
    gauges.close()


async def test_refresh_request_from_the_browser(client: AsyncDeviceClient) -> None:
    gauges = DeviceQueueGauges(client=client, autostart=False)
    replies: list[dict[str, Any]] = []
    gauges._requests._send = lambda message, buffers: replies.append(message)
    gauges._requests.receive({"id": "r1", "kind": "refresh"})
    for _ in range(100):
        if replies:
            break
        await asyncio.sleep(0.05)
    assert replies == [{"id": "r1", "kind": "reply", "ok": True,
                        "result": {"ok": True, "error": ""}}]
    assert len(gauges.devices) == 7
    gauges.close()


async def test_static_form_escapes_and_the_state_holds_no_secret(
        client: AsyncDeviceClient, server: SimServer) -> None:
    gauges = await polled(client)
    state = json.dumps(gauges.get_state())
    assert server.token not in state
    gauges.devices = [{**gauges.devices[0], "name": "<script>alert(1)</script>",
                       "provider": "a&b"}]
    page = gauges.static_html()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b" in page
    assert "<script>alert(1)</script>" in gauges.static_text()  # plain text is not HTML
    bundle_, _ = gauges._repr_mimebundle_()
    assert bundle_["text/html"] == page
    gauges.close()


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="colour"):
        DeviceQueueGauges(autostart=False, colour="red")
    with pytest.raises(ValidationError, match="max_devices"):
        DeviceQueueGauges(autostart=False, max_devices=0)
    with pytest.raises(ValidationError, match="poll_interval"):
        DeviceQueueGauges(autostart=False, poll_interval=0.1)
    gauges = DeviceQueueGauges(autostart=False)
    with pytest.raises(ValidationError, match="max_devices"):
        gauges.max_devices = -1
    gauges.close()


def test_the_bundle_is_small() -> None:
    path = bundle("gauges")
    assert path.exists(), "run `npm --prefix js run build`"
    assert path.stat().st_size <= 150 * 1024
    assert "qw-gauges" in path.read_text()


async def test_your_hybrid_job_on_the_jobs_gauge(client: AsyncDeviceClient,
                                                 server: SimServer) -> None:
    from qwidgets.client.braket.hybrid_jobs import AsyncJobsClient

    async with await AsyncJobsClient.create(endpoint=server.url, token=server.token) as jobs:
        arn = await jobs.create_job(device=AURORA, entry_point="qwidgets.sim.braket.programs.train:main")
        status = await client.job(arn)
        assert status.status == "QUEUED"
        assert status.queue is not None
        assert status.queue.position.display() == "15+"  # behind more than 1,000 jobs
        gauges = await polled(client, max_devices=1, track_jobs=[arn])
        (aurora,) = gauges.devices
        assert aurora["name"] == "Aurora-12"
        (mine,) = aurora["mine"]
        assert (mine["kind"], mine["queue"], mine["position"]["display"]) == ("job", "jobs", "15+")
        assert "your job" in gauges.static_text()
        await jobs.cancel_job(arn)
        gauges.close()
