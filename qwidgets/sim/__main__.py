"""``python -m qwidgets.sim serve ...``: see ``qwidgets.sim.server.cli``."""

from qwidgets.sim.server.cli import main

raise SystemExit(main())
