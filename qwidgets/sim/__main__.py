"""``python -m qwidgets.sim serve ...``: see ``qwidgets.sim.cli``."""

from qwidgets.sim.cli import main

raise SystemExit(main())
