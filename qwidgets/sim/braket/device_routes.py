"""Braket's device routes (GetDevice, SearchDevices), and ``setup``, which installs the runtime
(``runtime.BraketRuntime`` as ``app[RUNTIME]``) with every route that uses it: these, the
quantum-task routes (``task_routes``) and the result objects (``s3_routes``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from qwidgets.sim.braket import s3_routes, task_routes
from qwidgets.sim.braket.auth import authenticated
from qwidgets.sim.braket.catalog import DeviceSpec
from qwidgets.sim.braket.runtime import RUNTIME, BraketRuntime
from qwidgets.sim.braket.wire import field, invalid, json_body, max_results, next_token, path_arn
from qwidgets.sim.server.store import Store


def setup(app: web.Application, store: Store) -> None:
    """Register the routes and the runtime (started and stopped with the app). A test may
    replace ``app[RUNTIME]`` before the app starts (a manual clock, a custom catalog)."""
    app[RUNTIME] = BraketRuntime(store)
    app.router.add_get("/device/{deviceArn}", get_device)
    app.router.add_post("/devices", search_devices)
    task_routes.add_routes(app)
    s3_routes.add_routes(app)

    async def start(app_: web.Application) -> None:
        await app_[RUNTIME].start()

    async def stop(app_: web.Application) -> None:
        await app_[RUNTIME].stop()

    app.on_startup.append(start)
    app.on_cleanup.insert(0, stop)  # before the store closes


def _device_json(runtime: BraketRuntime, spec: DeviceSpec) -> dict[str, Any]:
    return {"deviceArn": spec.arn, "deviceName": spec.name, "providerName": spec.provider,
            "deviceType": spec.device_type, "deviceStatus": spec.status,
            "deviceCapabilities": spec.capabilities_json(),
            "deviceQueueInfo": runtime.device_queue_info(spec)}


@authenticated
async def get_device(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    spec = runtime.device(path_arn(request, "deviceArn"))
    return web.json_response(_device_json(runtime, spec))


_DEVICE_FILTERS = {"deviceArn": "arn", "deviceName": "name", "deviceType": "device_type",
                   "deviceStatus": "status", "providerName": "provider"}


@authenticated
async def search_devices(request: web.Request) -> web.Response:
    body = await json_body(request)
    filters = field(body, "filters", list, required=False, default=[])
    limit = max_results(body)
    start = next_token(body)
    specs = request.app[RUNTIME].queues.devices
    for item in filters:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or item["name"] not in _DEVICE_FILTERS:
            raise invalid(f"filters: unknown filter {item!r}; names: {', '.join(_DEVICE_FILTERS)}")
        values = item.get("values")
        if not isinstance(values, list) or not values:
            raise invalid(f"filters[{item['name']}].values must be a non-empty list")
        attr = _DEVICE_FILTERS[item["name"]]
        specs = [s for s in specs if getattr(s, attr) in values]
    page = specs[start:start + limit]
    answer: dict[str, Any] = {"devices": [
        {"deviceArn": s.arn, "deviceName": s.name, "providerName": s.provider,
         "deviceType": s.device_type, "deviceStatus": s.status} for s in page]}
    if start + limit < len(specs):
        answer["nextToken"] = str(start + limit)
    return web.json_response(answer)
