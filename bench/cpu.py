"""Where a run's CPU time went, from /proc: the front ends (with any program they ran and
reaped), their upload checker processes, their decoder processes, the database (its postmaster
and every backend), and this process (the benchmark's clients); and how busy the machine was."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
GROUPS = ("front ends", "checkers", "decoders", "database", "client")
# What /proc/PID/comm shows of an upload checker (decoder.checking.service.PROCESS_NAME).
CHECKER_NAME = "upload-check"


@dataclass(frozen=True)
class CpuSample:
    # CPU seconds so far, by GROUPS.
    seconds: dict[str, float]
    # CPU seconds the whole machine spent not idle, and when (monotonic seconds).
    machine_busy_s: float
    at: float


@dataclass(frozen=True)
class CpuUse:
    # CPU seconds over the run, by GROUPS.
    seconds: dict[str, float]
    # The share of the machine's CPUs that were busy, 0-1.
    machine_busy: float


def sample(front_ends: list[int], postmaster: int | None) -> CpuSample:
    """CPU seconds so far; `postmaster` None: no database server (SQLite)."""
    children = [child for pid in front_ends for child in _children(pid)]
    checkers = [pid for pid in children if is_checker(pid)]
    decoders = [pid for pid in children if pid not in checkers]
    database = [postmaster, *_children(postmaster)] if postmaster is not None else []
    own = os.times()
    return CpuSample(
        seconds={
            "front ends": sum(_with_reaped(pid) for pid in front_ends),
            "checkers": sum(_with_reaped(pid) for pid in checkers),
            "decoders": sum(_with_reaped(pid) for pid in decoders),
            "database": sum(_with_reaped(pid) for pid in database),
            "client": own.user + own.system,
        },
        machine_busy_s=_machine_busy_s(),
        at=time.monotonic(),
    )


def between(before: CpuSample, after: CpuSample) -> CpuUse:
    elapsed = after.at - before.at
    return CpuUse(
        seconds={group: after.seconds[group] - before.seconds[group] for group in GROUPS},
        machine_busy=(after.machine_busy_s - before.machine_busy_s) / (elapsed * (os.cpu_count() or 1)),
    )


def postmaster_pid(data_directory: Path) -> int:
    return int((data_directory / "postmaster.pid").read_text().splitlines()[0])


def is_checker(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == CHECKER_NAME
    except OSError:
        return False


def _with_reaped(pid: int) -> float:
    """The process's CPU seconds and those of the children it waited for; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), 12 to 15 after the name.
    return sum(int(tick) for tick in fields[11:15]) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(child) for task in tasks for child in (task / "children").read_text().split()]
    except OSError:
        return []


def _machine_busy_s() -> float:
    """All CPUs' time not idle nor waiting for the disk, since boot, from /proc/stat."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(tick) for tick in first]
    idle = ticks[3] + ticks[4]
    # guest time is counted in user time already.
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS
