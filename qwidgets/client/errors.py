"""The client's exceptions: every failure a caller can see is one of these, never a raw aiohttp
error, so that notebooks and widgets can catch by meaning (auth, not found, invalid input...).
"""

from __future__ import annotations

from typing import Any

from qwidgets.errors import QwidgetsError, TrainingCancelled, ValidationError

__all__ = [
    "ApiError",
    "AuthenticationError",
    "ConflictError",
    "NotFoundError",
    "QwidgetsError",
    "ServerValidationError",
    "ServiceUnavailableError",
    "TrainingCancelledError",
    "TrainingFailedError",
    "TrainingTimeoutError",
    "UsageError",
    "ValidationError",
]


class ApiError(QwidgetsError):
    """The service answered with an error status that no subclass describes better."""

    def __init__(
        self, status: int | None, message: str, body: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.kind = (body or {}).get("error")
        self.body = body or {}
        super().__init__(message if status is None else f"HTTP {status}: {message}")


class AuthenticationError(ApiError, PermissionError):
    """401/403 (``status``), or no token at all (``status`` None): the message says where the
    token is looked for."""


class NotFoundError(ApiError, LookupError):
    """404: the guid does not exist, or belongs to another token's namespace."""


class ConflictError(ApiError):
    """409: the resource is not in a state that allows the call (inference before training)."""


class ServerValidationError(ValidationError):
    """400/413/422 with the server's JSON naming the field, rebuilt as a ValidationError."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.kind = body.get("error")
        self.body = body
        field = str(body.get("field") or "request")
        allowed = str(body.get("allowed") or body.get("message") or f"rejected (HTTP {status})")
        super().__init__(field, body.get("value"), allowed, body.get("fix"))
        if body.get("message") and body.get("allowed"):
            # The server's own sentence is usually the most precise; keep it visible.
            self.args = (f"{self.args[0]} (server: {body['message']})",)


class UsageError(QwidgetsError, RuntimeError):
    """A method was called out of order (train before data, inference before train...)."""


class TrainingFailedError(QwidgetsError, RuntimeError):
    """The training ended ``failed`` (or in a status that is not a success)."""

    def __init__(self, model_guid: str, status: str, reason: str | None) -> None:
        self.model_guid = model_guid
        self.status = status
        self.reason = reason
        super().__init__(
            f"training of model {model_guid} ended {status!r}: {reason or 'no reason given'}")


class TrainingCancelledError(TrainingCancelled):
    """The training ended ``cancelled`` because someone asked for it."""

    def __init__(self, model_guid: str) -> None:
        self.model_guid = model_guid
        super().__init__(f"training of model {model_guid} was cancelled")


class TrainingTimeoutError(QwidgetsError, TimeoutError):
    """``wait_for_training(timeout=...)`` gave up: the training is still running (it goes on;
    wait again, or cancel it). ``progress`` is where it had got to."""

    def __init__(self, model_guid: str, timeout: float, progress: dict[str, Any],
                 described: str) -> None:
        self.model_guid = model_guid
        self.timeout = timeout
        self.progress = progress
        super().__init__(f"training of model {model_guid} is still {progress.get('status')!r} "
                         f"after {timeout:g} s: {described}; call wait_for_training() again to "
                         "keep waiting, or cancel()")


class ServiceUnavailableError(QwidgetsError, ConnectionError):
    """Every attempt failed on a transient cause (connection, timeout, 429, 502-504)."""

    def __init__(self, method: str, path: str, attempts: int, last_cause: str) -> None:
        self.method = method
        self.path = path
        self.attempts = attempts
        self.last_cause = last_cause
        super().__init__(
            f"{method} {path} failed after {attempts} attempt{'s' * (attempts != 1)}; "
            f"last cause: {last_cause}")
