"""Wall time of notebook 09 (campaign effect) through the report runner, as a ratio to loading and
cleaning The Complete Journey measured in the same run: ``bench_notebooks.py`` for notebook 09 with
issue 13's target of 90 s on the 2-core reference machine.

    python benchmarks/bench_campaign_effect.py [--dataset complete_journey] [--target 90]

Not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_notebooks import main as bench_notebooks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return bench_notebooks(["--notebooks", "09_campaign_effect", "--target", "90", *(argv or sys.argv[1:])])


if __name__ == "__main__":
    sys.exit(main())
