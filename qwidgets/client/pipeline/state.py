"""What a pipeline keeps on disk: a small JSON checkpoint of its progress (so ``resume`` after a
kernel restart skips what is done) and a registry of published models (name -> versions).

Both hold guids, names, numbers and parameters only: never a token or any other secret; a key
that looks like one is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qwidgets.errors import QwidgetsError, ValidationError

FORMAT = "qwidgets.pipeline"
FORMAT_VERSION = 1
REGISTRY_NAME = "published.json"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# Keys that would carry a credential: a checkpoint is a file people copy and share.
_SECRET_KEYS = re.compile(r"token|secret|password|passwd|authorization|api[_-]?key|credential",
                          re.IGNORECASE)


class CheckpointError(QwidgetsError):
    """A checkpoint file is missing, unreadable or not a pipeline checkpoint."""


def check_name(name: Any, field: str = "name") -> str:
    """Pipeline and action names become file names and keys: keep them plain."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(field, name, "must be 1-100 letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit", "e.g. 'churn-model'")
    return name


def default_directory() -> Path:
    """Next to the embedded simulator's data (``$QWIDGETS_DATA_DIR/pipelines``) when that is
    set, else ``~/.cache/qwidgets/pipelines``."""
    env = os.environ.get("QWIDGETS_DATA_DIR")
    if env:
        return Path(env).expanduser() / "pipelines"
    return Path.home() / ".cache" / "qwidgets" / "pipelines"


def checkpoint_path(name: str, directory: str | Path | None = None) -> Path:
    base = Path(directory).expanduser() if directory is not None else default_directory()
    return base / f"{check_name(name)}.json"


def json_safe(value: Any) -> Any:
    """Plain JSON values: non-finite floats become None, numpy scalars Python numbers, and
    anything else its ``str``."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return json_safe(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def _refuse_secrets(value: Any, where: str = "checkpoint") -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if _SECRET_KEYS.search(str(key)):
                raise ValidationError(f"{where}.{key}", "<hidden>",
                                      "a pipeline file never stores credentials",
                                      "keep tokens in the client (environment or token file)")
            _refuse_secrets(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for inner in value:
            _refuse_secrets(inner, where)


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Atomic write (temporary file + rename), readable by the owner only."""
    body = json_safe(payload)
    _refuse_secrets(body)
    text = json.dumps(body, indent=1, sort_keys=True, allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint at ``path``; raises CheckpointError naming the path and the problem."""
    where = Path(path).expanduser()
    try:
        body = json.loads(where.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"no pipeline checkpoint at {where}: run the pipeline first "
                              "(it writes one as it goes), or pass the path it used") from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read the pipeline checkpoint {where}: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise CheckpointError(f"{where} is not a qwidgets pipeline checkpoint")
    if body.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{where} has checkpoint version {body.get('version')!r}; this "
                              f"qwidgets reads version {FORMAT_VERSION}")
    if not isinstance(body.get("actions"), list):
        raise CheckpointError(f"{where} lists no actions")
    return body


def checkpoint_body(name: str, kind: str, state: str | None, config: Mapping[str, Any],
                    actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "version": FORMAT_VERSION, "name": name, "kind": kind,
            "state": state, "updated": time.time(), "config": dict(config),
            "actions": actions}


# ---------------------------------------------------------------- published models


def read_registry(directory: str | Path | None = None) -> dict[str, list[dict[str, Any]]]:
    path = Path(directory or default_directory()).expanduser() / REGISTRY_NAME
    try:
        body = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read the model registry {path}: {exc}") from None
    models = body.get("models") if isinstance(body, dict) else None
    return models if isinstance(models, dict) else {}


def publish(directory: str | Path | None, name: str, model_guid: str,
            details: Mapping[str, Any]) -> dict[str, Any]:
    """Record ``model_guid`` as the next version of ``name``; publishing the same guid again
    returns its existing entry, so a resumed pipeline does not mint a second version."""
    check_name(name, "publish_name")
    base = Path(directory or default_directory()).expanduser()
    models = read_registry(base)
    versions = models.setdefault(name, [])
    for entry in versions:
        if entry.get("model_guid") == model_guid:
            return dict(entry)
    entry = {**json_safe(dict(details)), "model_guid": model_guid, "name": name,
             "version": 1 + max((int(e.get("version", 0)) for e in versions), default=0),
             "published_at": time.time()}
    versions.append(entry)
    write_json(base / REGISTRY_NAME, {"models": models})
    return dict(entry)


def published_models(name: str | None = None,
                     directory: str | Path | None = None) -> list[dict[str, Any]]:
    """Published models (of ``name``, or all), oldest first."""
    models = read_registry(directory)
    names = [name] if name is not None else sorted(models)
    return [dict(e) for n in names for e in models.get(n, [])]
