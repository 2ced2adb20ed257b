"""The run store: results on disk, keyed by the config hash.

Layout under the store root (``$CGH_RUNS`` or ``<repo>/runs``)::

    <experiment>/<hash>/config.json    the config, as data
    <experiment>/<hash>/result.json    final metrics + provenance + wall time
    <experiment>/<hash>/arrays.npz     curves and per-example arrays
    <experiment>/_ckpt/<key>.pt        in-progress checkpoints (not committed)

`result.json` is written last, atomically, so its presence means the run is
complete: a crash can never leave a half-written result that looks cached.

Durability (see README, "What is guaranteed"):

* every file is written to a temp file, fsynced and renamed into place, with
  the mode the umask gives (a shared store needs group-readable files);
* `result.json` records the SHA-256 of `arrays.npz` and of itself; a result
  that fails either check is moved aside (`result.json.bad`) with a message
  and recomputed, never shown;
* replacing a stored result (``--force``) stages `arrays.npz.new` and
  `result.json.new` completely before renaming them over the old pair, and a
  reader that finds a staged pair finishes the swap, so a kill at any moment
  leaves either the old result or the new one;
* checkpoints carry a magic header and the SHA-256 of their payload, and are
  loaded with ``torch.load(weights_only=True)``: a damaged checkpoint, or one
  whose pickle would run code, is discarded with a message, never loaded;
* `lock` serialises the processes that train the same run (``flock``), so two
  processes started on one config compute it once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from cgh_lib.store import faults
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


def _umask_mode(base: int = 0o666) -> int:
    """``base`` as the process umask would create it (mkstemp always makes 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return base & ~mask


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _umask_mode())
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_checksum(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "checksum"}
    return _sha256(json.dumps(body, sort_keys=True).encode())


def warn(msg: str) -> None:
    print(f"cgh: {msg}", file=sys.stderr, flush=True)


# --- checkpoint files: MAGIC, 32-byte SHA-256 of the payload, then a torch.save payload
CKPT_MAGIC = b"CGHCKPT1"


def write_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write a checkpoint atomically with its checksum: a kill mid-write leaves the previous one."""
    buf = io.BytesIO()
    torch.save(state, buf)
    write_checkpoint_payload(Path(path), buf.getvalue())


def write_checkpoint_payload(path: Path, payload: bytes) -> None:
    _atomic_write_bytes(path, CKPT_MAGIC + hashlib.sha256(payload).digest() + payload)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A checkpoint's state, or None if there is none. A truncated, damaged or
    foreign file (or one whose pickle holds anything but tensors and plain
    containers) is deleted with a one-line message: the run restarts from step 0."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    head = len(CKPT_MAGIC) + 32
    why = None
    if len(raw) < head or raw[:len(CKPT_MAGIC)] != CKPT_MAGIC:
        why = "not a checkpoint of this code"
    elif hashlib.sha256(raw[head:]).digest() != raw[len(CKPT_MAGIC):head]:
        why = "checksum mismatch: truncated or damaged"
    else:
        try:
            state = torch.load(io.BytesIO(raw[head:]), map_location="cpu", weights_only=True)
        except Exception as e:  # weights_only refuses anything that could run code
            why = f"refused by torch.load(weights_only=True): {type(e).__name__}"
        else:
            if isinstance(state, dict):
                return state
            why = "not a checkpoint of this code"
    warn(f"discarding unreadable checkpoint {path} ({why}); starting that run from step 0")
    path.unlink(missing_ok=True)
    return None


class RunStore:
    """Read and write completed runs and checkpoints under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()

    def run_dir(self, cfg: Any) -> Path:
        return self.root / experiment_name(cfg) / config_hash(cfg)

    def has(self, cfg: Any) -> bool:
        d = self.run_dir(cfg)
        self._finish_swap(d)
        return (d / "result.json").exists()

    @staticmethod
    def _finish_swap(d: Path) -> None:
        """Complete a replacement that a kill interrupted (idempotent, safe to race).

        `save` stages ``arrays.npz.new`` then ``result.json.new`` before renaming
        them over the old pair; a staged ``result.json.new`` means both are
        complete, so the swap is rolled forward. A lone ``arrays.npz.new`` is an
        abandoned (or in-progress) stage and is left alone: the old pair is intact.
        """
        staged = d / "result.json.new"
        if not staged.exists():
            return
        with contextlib.suppress(FileNotFoundError):
            os.replace(d / "arrays.npz.new", d / "arrays.npz")
        with contextlib.suppress(FileNotFoundError):
            os.replace(staged, d / "result.json")

    def _discard(self, d: Path, why: str) -> None:
        warn(f"discarding unreadable result {d} ({why}); it will be recomputed")
        with contextlib.suppress(FileNotFoundError):
            os.replace(d / "result.json", d / "result.json.bad")

    def load(self, cfg: Any) -> RunResult | None:
        """The stored result for ``cfg``, or None if it has not completed (or fails its checksums)."""
        return self.load_dir(self.run_dir(cfg))

    def load_dir(self, d: Path) -> RunResult | None:
        self._finish_swap(d)
        try:
            text = (d / "result.json").read_text()
        except FileNotFoundError:
            return None
        try:
            res = json.loads(text)
            if not isinstance(res, dict) or not {"config", "final", "provenance"} <= set(res):
                raise ValueError("fields missing")
        except ValueError as e:
            self._discard(d, f"result.json does not parse: {e}")
            return None
        if "checksum" in res and res["checksum"] != _record_checksum(res):
            self._discard(d, "result.json checksum mismatch")
            return None
        arrays: dict[str, np.ndarray] = {}
        try:
            raw = (d / "arrays.npz").read_bytes()
        except FileNotFoundError:
            raw = None
        if "arrays_sha256" in res and (raw is None or _sha256(raw) != res["arrays_sha256"]):
            self._discard(d, "arrays.npz missing" if raw is None else "arrays.npz checksum mismatch")
            return None
        if raw is not None:
            try:
                with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except Exception as e:
                self._discard(d, f"arrays.npz does not load: {type(e).__name__}")
                return None
        return RunResult(config=res["config"], final=res["final"], provenance=res["provenance"],
                         arrays=arrays, path=d)

    def save(self, cfg: Any, final: dict[str, Any], arrays: dict[str, np.ndarray],
             provenance: dict[str, Any], drop: Sequence[str | os.PathLike[str]] = ()) -> RunResult:
        """Store a completed run, replacing any stored one only once the new one is complete.

        ``drop``: files made obsolete by this result (the run's checkpoint), deleted
        once the result is staged and before it is renamed into place, so that a
        kill at any point leaves either a resumable checkpoint or a finished result.
        """
        d = self.run_dir(cfg)
        d.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(d / "config.json", (canonical_json(cfg) + "\n").encode())
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        record = {"experiment": experiment_name(cfg), "hash": config_hash(cfg), "config": to_dict(cfg),
                  "final": final, "provenance": {**provenance, "finished_at": now_utc()},
                  "arrays_sha256": _sha256(data)}
        record["checksum"] = _record_checksum(record)
        _atomic_write_bytes(d / "arrays.npz.new", data)
        faults.point("final_save")
        _atomic_write_bytes(d / "result.json.new", (json.dumps(record, indent=1, sort_keys=True) + "\n").encode())
        for p in drop:
            Path(p).unlink(missing_ok=True)
        faults.point("final_swap")
        self._finish_swap(d)
        return self.load(cfg)  # type: ignore[return-value]

    def delete(self, cfg: Any) -> None:
        """Forget a stored result."""
        (self.run_dir(cfg) / "result.json").unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self, configs: Sequence[Any]) -> Iterator[None]:
        """Hold an exclusive lock on each config's run while training it.

        A second process on the same config waits (saying so), then finds the
        result stored. Locks are ``flock`` on files under ``<experiment>/_locks``:
        the kernel releases them when a process dies, even by kill -9. Where
        locking is unsupported (some network filesystems) it is skipped, and
        concurrent writers of one run fall back to last-writer-wins of
        complete, checksummed results. Under torchrun only rank 0 locks.
        """
        try:
            import fcntl
        except ImportError:  # not POSIX
            yield
            return
        if int(os.environ.get("RANK", "0")) != 0:
            yield
            return
        held = []
        try:
            for key in sorted({(experiment_name(c), config_hash(c)) for c in configs}):
                p = self.root / key[0] / "_locks" / f"{key[1]}.lock"
                p.parent.mkdir(parents=True, exist_ok=True)
                fh = open(p, "a")
                try:
                    try:
                        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        warn(f"waiting for another process that is running {key[1]} (lock {p})")
                        fcntl.flock(fh, fcntl.LOCK_EX)
                except OSError:  # no locking here
                    fh.close()
                    continue
                held.append(fh)
            yield
        finally:
            for fh in held:
                fh.close()

    # --- checkpoints -----------------------------------------------------
    def checkpoint_path(self, experiment: str, key: str) -> Path:
        return self.root / experiment / "_ckpt" / f"{key}.pt"

    def save_checkpoint(self, experiment: str, key: str, state: dict[str, Any]) -> None:
        """Write a checkpoint atomically with its checksum (see `write_checkpoint`)."""
        write_checkpoint(self.checkpoint_path(experiment, key), state)

    def load_checkpoint(self, experiment: str, key: str) -> dict[str, Any] | None:
        """The checkpoint's state, or None (absent, or unreadable and discarded with a message)."""
        return read_checkpoint(self.checkpoint_path(experiment, key))

    # file-level access, e.g. for tests that forge checkpoints
    read_checkpoint_file = staticmethod(read_checkpoint)
    write_checkpoint_file = staticmethod(write_checkpoint_payload)

    def drop_checkpoint(self, experiment: str, key: str) -> None:
        self.checkpoint_path(experiment, key).unlink(missing_ok=True)

    def list_runs(self, experiment: str | None = None) -> list[dict[str, Any]]:
        """All completed runs' result records (optionally of one experiment); unreadable ones are skipped."""
        pattern = f"{experiment}/*/result.json" if experiment else "*/*/result.json"
        out = []
        for p in sorted(self.root.glob(pattern)):
            try:
                out.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                warn(f"skipping unreadable result {p}")
        return out
