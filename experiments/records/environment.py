"""The machine and package versions a result depends on: recorded with each run, shown in the
report (where the runs were trained, and where the report was built)."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

# The packages whose versions a run records (`spec.json`) and the report shows.
TRAINING_PACKAGES = ("tensorflow-cpu", "tensorflow", "keras", "numpy", "jax", "ray")
REPORT_PACKAGES = ("pandas", "matplotlib", "numpy", "scipy")


def cpu_model() -> str:
    """The CPU's model name where the OS tells it (Linux's /proc/cpuinfo; `platform.processor()`
    says only "x86_64" there), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages) -> dict[str, str]:
    """The installed version of each of `packages` that is installed."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return found


def describe(packages=TRAINING_PACKAGES) -> dict:
    """Python, platform, CPU model and count, and the versions of `packages`."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "cpu_count": os.cpu_count(),
        "packages": versions(packages),
    }
