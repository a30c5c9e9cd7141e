"""Reading processes from /proc for the benchmarks: a process tree and CPU used so far."""

from __future__ import annotations

import os
from pathlib import Path


def process_tree(root: int) -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of `root` and everything under it."""
    table: dict[int, tuple[int, str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        table[pid] = (ppid, cmd)
    tree = {root: table[root]} if root in table else {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, cmd) in table.items():
            if ppid == parent and pid not in tree:
                tree[pid] = (ppid, cmd)
                frontier.append(pid)
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far (0 once it is gone; clock ticks of 10 ms:
    read totals over hundreds of articles, not one)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far, all cores (/proc/stat; idle
    includes iowait: a core waiting on the disk could have run something)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / tick, idle / tick


def cpu_seconds_of_command(name: str) -> float:
    """CPU so far of every process whose command name is `name` (e.g. all of a database
    server's backends), the ones that have exited not counted."""
    total = 0.0
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                total += cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError):
            continue
    return total
