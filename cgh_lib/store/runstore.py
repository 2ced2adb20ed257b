"""The run store: results on disk, keyed by the config hash.

Layout under the store root (``$CGH_RUNS`` or ``<repo>/runs``)::

    <experiment>/<hash>/config.json    the config, as data
    <experiment>/<hash>/result.json    final metrics + provenance + wall time
    <experiment>/<hash>/arrays.npz     curves and per-example arrays
    <experiment>/_ckpt/<key>.pt        in-progress checkpoints (not committed)

`result.json` is written last, atomically, so its presence means the run is
complete: a crash can never leave a half-written result that looks cached.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cgh_lib.store.config import canonical_json, config_hash, experiment_name, to_dict
from cgh_lib.store.provenance import REPO_ROOT, now_utc


def default_root() -> Path:
    """Store root: ``$CGH_RUNS`` if set, else ``runs/`` in the project checkout."""
    env = os.environ.get("CGH_RUNS")
    return Path(env).expanduser() if env else REPO_ROOT / "runs"


@dataclass
class RunResult:
    """One completed run as read back from the store."""

    config: dict[str, Any]
    final: dict[str, Any]
    provenance: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path

    @property
    def wall_time_s(self) -> float:
        return float(self.provenance.get("wall_time_s", float("nan")))


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunStore:
    """Read and write completed runs and checkpoints under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()

    def run_dir(self, cfg: Any) -> Path:
        return self.root / experiment_name(cfg) / config_hash(cfg)

    def has(self, cfg: Any) -> bool:
        return (self.run_dir(cfg) / "result.json").exists()

    def load(self, cfg: Any) -> RunResult | None:
        """The stored result for ``cfg``, or None if it has not completed."""
        d = self.run_dir(cfg)
        if not (d / "result.json").exists():
            return None
        res = json.loads((d / "result.json").read_text())
        arrays: dict[str, np.ndarray] = {}
        if (d / "arrays.npz").exists():
            with np.load(d / "arrays.npz") as z:
                arrays = {k: z[k] for k in z.files}
        return RunResult(config=res["config"], final=res["final"], provenance=res["provenance"],
                         arrays=arrays, path=d)

    def save(self, cfg: Any, final: dict[str, Any], arrays: dict[str, np.ndarray],
             provenance: dict[str, Any]) -> RunResult:
        """Store a completed run (arrays first, result.json last and atomically)."""
        d = self.run_dir(cfg)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(d / "config.json", (canonical_json(cfg) + "\n").encode())
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        _atomic_write_bytes(d / "arrays.npz", buf.getvalue())
        record = {"experiment": experiment_name(cfg), "hash": config_hash(cfg), "config": to_dict(cfg),
                  "final": final, "provenance": {**provenance, "finished_at": now_utc()}}
        _atomic_write_bytes(d / "result.json", (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        return self.load(cfg)  # type: ignore[return-value]

    def delete(self, cfg: Any) -> None:
        """Forget a stored result (used by ``--force``)."""
        (self.run_dir(cfg) / "result.json").unlink(missing_ok=True)

    # --- checkpoints -----------------------------------------------------
    def checkpoint_path(self, experiment: str, key: str) -> Path:
        return self.root / experiment / "_ckpt" / f"{key}.pt"

    def save_checkpoint(self, experiment: str, key: str, state: dict[str, Any]) -> None:
        """Write a checkpoint atomically: a kill mid-write leaves the previous one."""
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        _atomic_write_bytes(self.checkpoint_path(experiment, key), buf.getvalue())

    def load_checkpoint(self, experiment: str, key: str) -> dict[str, Any] | None:
        p = self.checkpoint_path(experiment, key)
        if not p.exists():
            return None
        return torch.load(p, map_location="cpu", weights_only=False)

    def drop_checkpoint(self, experiment: str, key: str) -> None:
        self.checkpoint_path(experiment, key).unlink(missing_ok=True)

    def list_runs(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """All completed runs' result records (optionally of one experiment)."""
        pattern = f"{experiment}/*/result.json" if experiment else "*/*/result.json"
        return [json.loads(p.read_text()) for p in sorted(self.root.glob(pattern))]
