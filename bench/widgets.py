"""Widget benchmarks: the InferenceGrid on 10,000,000 and 1,000,000 rows (construction, bytes
per view against a full-frame transfer, sort, last row reachable) and the TrainingMonitor
(per-update cost against tqdm.notebook in the same run, messages per second to the browser).

    python bench/widgets.py          # a readable table
    python bench/widgets.py --json   # one JSON object
"""

from __future__ import annotations

import argparse
import json

# `python bench/widgets.py` puts bench/ first on the path: the two parts import as modules.
import widgets_grid
import widgets_monitor


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    results = {**widgets_monitor.measure(), **widgets_grid.measure()}
    if args.json:
        print(json.dumps(results))
        return
    for key, value in results.items():
        print(f"{key:45} {value}")


if __name__ == "__main__":
    main()
