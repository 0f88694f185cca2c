"""Errors and warnings shared by every layer of qwidgets (engine, server, client, widgets)."""

from __future__ import annotations

from typing import Any


class QwidgetsWarning(UserWarning):
    """Warnings that qwidgets itself emits (turned into errors in its test suite)."""


class QwidgetsError(Exception):
    """Base class of every error qwidgets raises on purpose."""


class ValidationError(QwidgetsError, ValueError):
    """A value a user gave is not acceptable.

    ``field`` is the dotted path of the offending field (``state_kwargs.tol``),
    ``value`` what was given, ``allowed`` what would be accepted, and ``fix`` a hint.
    The message names all of them, so a person can correct the input at once.
    """

    def __init__(
        self, field: str, value: Any, allowed: str, fix: str | None = None
    ) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        self.fix = fix
        shown = _short_repr(value)
        message = f"{field}: got {shown}; {allowed}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body a server answers with (and a client rebuilds the error from)."""
        return {
            "error": "validation",
            "field": self.field,
            "value": _short_repr(self.value),
            "allowed": self.allowed,
            "fix": self.fix,
            "message": str(self),
        }


class DataValidationError(ValidationError):
    """A DataFrame cannot be used as it is; ``columns`` names the columns at fault."""

    def __init__(
        self, field: str, columns: list[str], problem: str, fix: str | None = None
    ) -> None:
        self.columns = columns
        super().__init__(field, columns, problem, fix)


class TrainingCancelled(QwidgetsError):  # noqa: N818 - a signal, named as the status it causes
    """A training stopped because cancellation was requested."""


def _short_repr(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
