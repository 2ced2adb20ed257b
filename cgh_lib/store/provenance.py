"""Provenance: where and with what a result was computed.

Every stored run carries this record so a figure can always say which commit,
library versions and device produced the numbers it shows.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]  # cgh_lib/store/provenance.py -> repo


def git(*args: str) -> str:
    """Output of ``git args`` in the project checkout; "" where git or the checkout is missing."""
    try:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_commit() -> dict[str, Any]:
    """Current commit of the project checkout and whether it had local changes."""
    commit = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "cgh_lib"))
    return {"commit": commit or None, "dirty": dirty if commit else None}


def device_name(device: torch.device | str) -> str:
    """Human-readable device: the GPU's name, or the CPU model and thread count."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_build() -> dict[str, Any]:
    """What decides the float reduction order of a CPU result besides the code and the data:
    the torch build (version, git commit, BLAS, CPU kernel capability) and the threads."""
    cfg = torch.__config__.show()
    blas = re.search(r"\bBLAS_INFO=([^,\s]+)", cfg)
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        capability = None
    return {"version": torch.__version__, "git": getattr(torch.version, "git_version", None),
            "cuda": torch.version.cuda, "blas": blas.group(1) if blas else None, "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available(), "cpu_capability": capability,
            "config_sha256": hashlib.sha256(cfg.encode()).hexdigest()[:16]}


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance(device: torch.device | str) -> dict[str, Any]:
    """The record stored with every run, taken when the run starts (the run store
    adds ``finished_at`` when it saves the result)."""
    import numpy
    import torchvision

    return {
        **git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "device": str(torch.device(device)),
        "device_name": device_name(device),
        "host": platform.node(),
        # why the same config can give different last digits elsewhere (README, "What is guaranteed")
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "torch_build": torch_build(),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "started_at": now_utc(),
    }


def device_label(prov: Any) -> str:
    """A run's device as a reader reads it ("AMD EPYC (1 thread)", not "(1 threads)"): the one
    wording the stamp, the run browser and `cgh list --plan` share."""
    name = prov.get("device_name") or prov.get("device") or "?"
    return str(name).replace("(1 threads)", "(1 thread)")


def cpu_label(prov: Any) -> str:
    """The CPU a run trained on, with the vector capability torch used ("AMD EPYC (AVX2)"): why two
    CPU runs of one config can differ in their last digits (README, "What is guaranteed")."""
    prov = prov or {}
    cap = (prov.get("torch_build") or {}).get("cpu_capability")
    name = prov.get("cpu") or device_label(prov)
    return f"{name} ({cap})" if cap else str(name)
