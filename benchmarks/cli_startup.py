"""How fast the command line starts: `newsflow --help`, `newsflow extract PAGE`, and plain
trafilatura doing the same extraction, each as a whole process, several times.

Reports per command the median wall time, the CPU time (user + system) the process used, which
waits for a busy machine's cores much less than the wall time does, and the import time Python
counts (`-X importtime`, the sum of top-level imports, lazy ones inside functions included), so
a change that drags a heavy library into a command shows. The commands run in alternating
rounds, so a load spike from other work on the machine lands on all of them alike; the load
average is printed before and after. `newsflow extract PAGE` runs with the language model
already in the cache (workers/stages/langid_model.py), as every run after the first does; the
`(first run)` row gives it an empty cache directory each time.

Python compiles a module without a cached .pyc on every import; with PYTHONDONTWRITEBYTECODE
set and no __pycache__ in the work tree (as in a fresh checkout on this machine), newsflow's own
~60 modules are compiled on every run. The header says which case was measured.

    .venv/bin/python benchmarks/cli_startup.py [--runs 9] [PAGE]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGE = ROOT / "tests" / "pages" / "html" / "stadtblatt_de.html"
FIRST_RUN = "newsflow extract PAGE (first run)"


def commands(page: Path) -> dict[str, list[str]]:
    py = sys.executable
    trafilatura_cli = Path(py).with_name("trafilatura")
    return {
        "newsflow --help": [py, "-m", "workers.cli", "--help"],
        "newsflow extract PAGE": [py, "-m", "workers.cli", "extract", str(page)],
        FIRST_RUN: [py, "-m", "workers.cli", "extract", str(page)],
        "python: import trafilatura": [py, "-c", "import trafilatura"],
        "trafilatura.extract(PAGE)": [
            py,
            "-c",
            f"import trafilatura; trafilatura.extract(open({str(page)!r}).read())",
        ],
        # The trafilatura CLI reads a page on standard input (its script, run by this Python).
        "trafilatura CLI < PAGE": [py, str(trafilatura_cli)],
    }


def run(argv: list[str], stdin: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    with stdin.open("rb") as page:
        return subprocess.run(
            argv, stdin=page, capture_output=True, check=True, cwd=ROOT, env=env, text=True
        )


def importtime_total(stderr: str) -> float:
    """Seconds of import time in `python -X importtime` output: the sum of the top-level
    imports' cumulative times, i.e. all of the process's imports (lazy ones inside functions
    included). tests/test_cli.py reads the import budget with this same sum."""
    total = 0
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|", 2)
            if cumulative.strip().isdigit() and not name.startswith("  "):
                total += int(cumulative)
    return total / 1e6


def import_seconds(argv: list[str], stdin: Path, env: dict[str, str]) -> float:
    result = run([argv[0], "-X", "importtime", *argv[1:]], stdin, env)
    return importtime_total(result.stderr)


def wall_and_cpu_seconds(argv: list[str], stdin: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time of one whole process, and the CPU time it (and any child of it) used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run(argv, stdin, env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", nargs="?", type=Path, default=DEFAULT_PAGE)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    page = args.page.resolve()
    cache = Path(tempfile.mkdtemp(prefix="newsflow-cli-startup-"))
    warm = {**os.environ, "XDG_CACHE_HOME": str(cache / "warm")}
    cold = {**os.environ, "XDG_CACHE_HOME": str(cache / "cold")}
    no_writes = "set" if os.environ.get("PYTHONDONTWRITEBYTECODE") else "unset"
    pyc = sum(1 for _ in (ROOT / "workers").rglob("*.pyc"))
    print(f"page {page.name}, {args.runs} alternating rounds, Python {sys.version.split()[0]}")
    print(f"bytecode: {pyc} .pyc files under workers/, PYTHONDONTWRITEBYTECODE {no_writes}")
    print(f"load average before: {load_average()}")
    table = commands(page)
    for argv in table.values():
        run(argv, page, warm)  # warm the file cache; writes the warm model cache
    walls: dict[str, list[float]] = {name: [] for name in table}
    cpus: dict[str, list[float]] = {name: [] for name in table}
    imports: dict[str, list[float]] = {name: [] for name in table}
    try:
        for _ in range(args.runs):
            for name, argv in table.items():
                env = warm
                if name == FIRST_RUN:
                    shutil.rmtree(cache / "cold", ignore_errors=True)
                    env = cold
                wall, cpu = wall_and_cpu_seconds(argv, page, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
                if name == FIRST_RUN:
                    continue  # imports are the same as the warm run's
                imports[name].append(import_seconds(argv, page, env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    print(f"load average after:  {load_average()}")
    print(f"{'command':<36} {'wall s':>7} {'min-max':>12} {'cpu s':>6} {'import s':>9}  (medians)")
    for name in table:
        wall = walls[name]
        spent = f"{statistics.median(imports[name]):9.3f}" if imports[name] else f"{'-':>9}"
        spread = f"{min(wall):.3f}-{max(wall):.3f}"
        cpu = statistics.median(cpus[name])
        print(f"{name:<36} {statistics.median(wall):7.3f} {spread:>12} {cpu:6.3f} {spent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
