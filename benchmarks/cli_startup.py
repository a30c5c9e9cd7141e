"""How fast the command line starts: `newsflow --help`, `newsflow extract PAGE`, and plain
trafilatura doing the same extraction, each as a whole process, several times.

Reports per command the median wall time and the import time Python counts (`-X importtime`,
the sum of top-level imports), so a change that drags a heavy library into a command shows.

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [PAGE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGE = ROOT / "tests" / "pages" / "html" / "stadtblatt_de.html"


def commands(page: Path) -> dict[str, list[str]]:
    py = sys.executable
    return {
        "newsflow --help": [py, "-m", "workers.cli", "--help"],
        "newsflow extract PAGE": [py, "-m", "workers.cli", "extract", str(page)],
        "python: import trafilatura": [py, "-c", "import trafilatura"],
        "trafilatura.extract(PAGE)": [
            py,
            "-c",
            f"import trafilatura; trafilatura.extract(open({str(page)!r}).read())",
        ],
    }


def import_seconds(argv: list[str]) -> float:
    result = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], capture_output=True, text=True, cwd=ROOT
    )
    total = 0
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if (
            line.startswith("import time:")
            and parts[1].strip().isdigit()
            and not parts[2].startswith("  ")
        ):
            total += int(parts[1])
    return total / 1e6


def wall_seconds(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, capture_output=True, check=True, cwd=ROOT)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", nargs="?", type=Path, default=DEFAULT_PAGE)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"{'command':<30} {'wall s (median)':>16} {'import s (median)':>18}")
    for name, argv in commands(args.page).items():
        wall_seconds(argv)  # warm the file cache
        walls = [wall_seconds(argv) for _ in range(args.runs)]
        imports = [import_seconds(argv) for _ in range(args.runs)]
        print(f"{name:<30} {statistics.median(walls):>16.3f} {statistics.median(imports):>18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
