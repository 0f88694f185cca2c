"""qwidgets: Jupyter widgets for quantum-cognition ML services and quantum devices."""

from qwidgets._version import __version__
from qwidgets.errors import QwidgetsError, QwidgetsWarning, ValidationError

__all__ = ["QwidgetsError", "QwidgetsWarning", "ValidationError", "__version__"]
