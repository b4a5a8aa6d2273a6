"""Machine details printed at the top of every benchmark (figures mean little without them).

>>> "cpu" in machine_info()
True
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, str]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "ram": f"{_ram_gib():.1f} GiB",
        "os": platform.platform(),
        "load average (1/5/15 min)": " ".join(f"{x:.1f}" for x in load),
        "python": sys.version.split()[0],
        **{pkg: _version(pkg) for pkg in ("torch", "chromadb", "sentence-transformers", "transformers")},
    }


def print_machine() -> None:
    print("## machine")
    for k, v in machine_info().items():
        print(f"- {k}: {v}")
    print()


if __name__ == "__main__":
    print_machine()
