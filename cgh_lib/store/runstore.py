"""The run store: results on disk, keyed by the config hash.

Layout under the store root (``$CGH_RUNS`` or ``<repo>/runs``)::

    <experiment>/<hash>/config.json           the config, as data
    <experiment>/<hash>/result.json           final metrics + provenance + checksums (the pointer)
    <experiment>/<hash>/arrays-<sha16>.npz    curves and per-example arrays, named by their hash
    <experiment>/_ckpt/<key>.pt               in-progress checkpoints (not committed)

Results written before content-named arrays keep ``arrays.npz`` (``result.json``
without an ``arrays_file`` field); they load unchanged, and the first ``--force``
rewrites them in the current layout.

Guarantees (see README, "What is guaranteed"):

* every file is written to a temp file, fsynced and renamed into place, with
  the mode the umask gives (a shared store needs group-readable files);
* **a reader sees one complete version.** The arrays file is immutable and named
  by its SHA-256; `result.json` names it and is renamed into place last, so a
  reader racing a ``--force`` reads either the old record and its arrays or the
  new ones (if the old arrays vanish under it, it re-reads the new record);
* **every result is verified.** `result.json` records the SHA-256 of its arrays
  and of itself; a result with no checksum or a wrong one is never returned as
  stored: the reader reports it (once per process) and leaves the files where
  they are; only a writer replacing it moves the old record aside as
  ``result.json.bad``. Loading never renames or deletes anything, so read-only
  commands (claims, list, the book) leave a store as they found it;
* a run whose loss diverged is stored with ``status: diverged`` and its reason;
  it is returned (``RunResult.diverged``) but never as valid metrics;
* JSON is strict: non-finite floats are written as null and listed under
  ``nonfinite`` so that loading restores them;
* checkpoints carry a magic header and the SHA-256 of their payload, and are
  loaded with ``torch.load(weights_only=True)``: a damaged checkpoint, or one
  whose pickle would run code, is discarded with a message, never loaded;
* `lock` serialises the processes that train the same run (``flock``), so two
  processes started on one config compute it once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import os
import re
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
    """One completed run as read back from the store.

    ``status`` is ``"ok"`` or ``"diverged"`` (then `diverged` gives the reason and
    ``final`` holds only the step it was seen at). ``cached``: read from the
    store rather than computed by this process (set by `ensure_runs`).
    """

    config: dict[str, Any]
    final: dict[str, Any]
    provenance: dict[str, Any]
    arrays: dict[str, np.ndarray]
    path: Path
    status: str = "ok"
    cached: bool = True

    @property
    def wall_time_s(self) -> float:
        return float(self.provenance.get("wall_time_s", float("nan")))

    @property
    def kernel(self) -> str | None:
        """The winsorization kernel the run used (native, eager fallback, ...), where it has one:
        the fallback's last digits differ, so the stamp and `cgh claims` show it."""
        k = self.provenance.get("winsorize_kernel")
        return None if k is None else str(k)

    @property
    def diverged(self) -> str | None:
        """Why the run diverged (e.g. "train loss nan at step 12"), or None for a valid result."""
        if self.status != "diverged":
            return None
        return str(self.provenance.get("diverged") or "diverged")


# --- strict JSON: non-finite floats become null, their places listed under "nonfinite"
def _strict(obj: Any, where: str, found: list[str]) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        found.append(f"{where}={obj!r}")
        return None
    if isinstance(obj, dict):
        return {k: _strict(v, f"{where}.{k}" if where else str(k), found) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v, f"{where}[{i}]", found) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return _strict(obj.item(), where, found)
    return obj


def _restore_nonfinite(record: dict[str, Any]) -> None:
    """Put back the non-finite floats `_strict` replaced by null (paths like ``final.pristine_acc=nan``)."""
    for item in record.get("nonfinite", []):
        where, _, val = str(item).rpartition("=")
        keys = re.findall(r"[^.\[\]]+", where)
        node: Any = record
        try:
            for k in keys[:-1]:
                node = node[int(k)] if isinstance(node, list) else node[k]
            last = keys[-1]
            if isinstance(node, list):
                node[int(last)] = float(val)
            else:
                node[last] = float(val)
        except (KeyError, IndexError, ValueError, TypeError):
            continue


def record_bytes(record: dict[str, Any]) -> bytes:
    """The bytes of a result record: strict JSON (no bare NaN), sorted keys."""
    return (json.dumps(record, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """A record made strict (non-finite floats listed under ``nonfinite``) with its checksum."""
    found: list[str] = []
    body = _strict({k: v for k, v in record.items() if k not in ("checksum", "nonfinite")}, "", found)
    if found or record.get("nonfinite"):
        body["nonfinite"] = sorted(set(found) | set(record.get("nonfinite", [])))
    body["checksum"] = _record_checksum(body)
    return body


# --- machine paths in provenance: a dataset is named by its name and its folder under the data root
_ABS_PATH = re.compile(r"(?<![\w.~:/])(?:~|\.{1,2})?/(?:[^\s;,()'\"]+/)*([^\s;,()'\"/]+)")


def portable_data(text: str) -> str:
    """``"mnist (22,699 train; /home/x/data/MNIST-22k)"`` -> ``"... CGH_DATA/MNIST-22k)"``: no machine's path."""
    return _ABS_PATH.sub(lambda m: f"CGH_DATA/{m.group(1)}", text)


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


_reported: set[tuple[str, str]] = set()


def report(path: Path, why: str) -> None:
    """Say once per process that a stored result is not used, and why."""
    if (str(path), why) not in _reported:
        _reported.add((str(path), why))
        warn(f"not using the stored result {path} ({why}); it is left in place and will be recomputed "
             "by the next run that needs it")


class RunStore:
    """Read and write completed runs and checkpoints under one root folder."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root else default_root()
        # verified results by (folder, file stamps): `has` is called for every config of every figure
        self._verified: dict[Path, tuple[tuple[Any, ...], RunResult | None]] = {}

    def run_dir(self, cfg: Any) -> Path:
        return self.root / experiment_name(cfg) / config_hash(cfg)

    def has(self, cfg: Any) -> bool:
        """Whether a verified result (valid or diverged) is stored for ``cfg``."""
        return self.load(cfg) is not None

    @staticmethod
    def _finish_swap(d: Path) -> None:
        """Roll forward a replacement a kill interrupted, then remove arrays no record names.

        `save` stages the complete record as ``result.json.new`` (its arrays already in
        place) before renaming it over ``result.json``; code before content-named arrays
        staged ``arrays.npz.new`` too. A staged record is complete, so it is rolled
        forward. Only writers call this (`save`, and `recover` from `ensure_runs`);
        readers read a staged record as what rolling forward gives.
        """
        staged = d / "result.json.new"
        if staged.exists():
            with contextlib.suppress(FileNotFoundError):
                os.replace(d / "arrays.npz.new", d / "arrays.npz")
            with contextlib.suppress(FileNotFoundError):
                os.replace(staged, d / "result.json")
        try:
            named = str(json.loads((d / "result.json").read_bytes()).get("arrays_file") or "arrays.npz")
        except (OSError, ValueError, AttributeError):
            return
        for old in [*d.glob("arrays-*.npz"), d / "arrays.npz"]:  # versions no record names any more
            if old.name != named:
                old.unlink(missing_ok=True)

    def recover(self, cfg: Any) -> None:
        """Finish a save of ``cfg`` that a kill interrupted after its record was staged (writers only)."""
        d = self.run_dir(cfg)
        if (d / "result.json.new").exists():
            with contextlib.suppress(OSError):
                self._finish_swap(d)

    def load(self, cfg: Any) -> RunResult | None:
        """The stored, verified result for ``cfg``, or None (not stored, or failing its checks: reported)."""
        return self.load_dir(self.run_dir(cfg))

    @staticmethod
    def _stamp(d: Path, names: Sequence[str]) -> tuple[Any, ...]:
        out = []
        for n in names:
            try:
                st = (d / n).stat()
                out.append((n, st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append((n, None))
        return tuple(out)

    def load_dir(self, d: Path) -> RunResult | None:
        """Read and verify one run folder without changing anything in it."""
        res, why = self.check_dir(d)
        if why is not None:
            report(d, why)
        return res

    def check_dir(self, d: Path) -> tuple[RunResult | None, str | None]:
        """(result, None) for a verified result; (None, None) where none is stored;
        (None, why) for one that is there but fails its checks."""
        why: str | None = None
        for _attempt in range(20):
            # a record staged by a save that a kill interrupted: what rolling it forward gives
            staged = (d / "result.json.new").exists()
            rec_name = "result.json.new" if staged else "result.json"
            try:
                text = (d / rec_name).read_bytes()
            except FileNotFoundError:
                if staged:  # a writer just rolled it forward
                    continue
                return None, None
            except NotADirectoryError:  # not stored (a writer reports the file in the way)
                return None, None
            except OSError as e:
                return None, f"{rec_name} cannot be read: {e.strerror}"
            try:
                rec = json.loads(text)
                if not isinstance(rec, dict) or not {"config", "final", "provenance"} <= set(rec):
                    raise ValueError("fields missing")
            except ValueError as e:
                return None, f"result.json does not parse: {str(e)[:80]}"
            if "checksum" not in rec or "arrays_sha256" not in rec:
                return None, "result.json carries no checksum"
            if rec["checksum"] != _record_checksum(rec):
                return None, "result.json checksum mismatch"
            arrays_name = str(rec.get("arrays_file") or ("arrays.npz.new" if staged else "arrays.npz"))
            if "/" in arrays_name or arrays_name.startswith("."):
                return None, f"result.json names a foreign arrays file {arrays_name!r}"
            stamp = self._stamp(d, [rec_name, arrays_name])
            hit = self._verified.get(d)
            if hit is not None and hit[0] == stamp and hit[1] is not None and None not in (x[1] for x in stamp):
                return dataclasses.replace(hit[1], provenance=dict(hit[1].provenance), cached=True), None
            try:
                raw = (d / arrays_name).read_bytes()
            except FileNotFoundError:
                # a writer replaced this version after we read its record: read the new one
                if (d / rec_name).exists() and (d / rec_name).read_bytes() != text:
                    continue
                return None, f"{arrays_name} missing"
            except OSError as e:
                return None, f"{arrays_name} cannot be read: {e.strerror}"
            if _sha256(raw) != rec["arrays_sha256"]:
                # a legacy writer may be mid-swap: re-read if the record changed meanwhile
                if (d / rec_name).exists() and (d / rec_name).read_bytes() != text:
                    continue
                return None, f"{arrays_name} checksum mismatch"
            try:
                with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                    arrays = {k: z[k] for k in z.files}
            except Exception as e:
                return None, f"{arrays_name} does not load: {type(e).__name__}"
            _restore_nonfinite(rec)
            prov = dict(rec["provenance"])
            if isinstance(prov.get("data"), str):  # published pages never show a machine's path
                prov["data"] = portable_data(prov["data"])
            out = RunResult(config=rec["config"], final=rec["final"], provenance=prov, arrays=arrays, path=d,
                            status=str(rec.get("status", "ok")))
            self._verified[d] = (stamp, out)
            return dataclasses.replace(out, provenance=dict(prov)), None
        return None, why or "result.json kept changing while being read"

    def problems(self, experiment: str | None = None) -> list[tuple[Path, str]]:
        """Every run folder holding a result that is not used, with why (for `cgh list` and the book)."""
        out = []
        for d in self._run_dirs(experiment):
            _, why = self.check_dir(d)
            if why is not None:
                out.append((d, why))
        return out

    def _run_dirs(self, experiment: str | None = None) -> list[Path]:
        pattern = f"{experiment}/*/result.json*" if experiment else "*/*/result.json*"
        return sorted({p.parent for p in self.root.glob(pattern)
                       if p.name in ("result.json", "result.json.new") and not p.parent.name.startswith("_")})

    def _set_aside(self, d: Path) -> None:
        """Before a writer replaces a result that fails its checks, keep it as ``result.json.bad``."""
        _, why = self.check_dir(d)
        if why is not None and (d / "result.json").exists():
            warn(f"setting aside the unverified result {d} ({why}) as result.json.bad")
            with contextlib.suppress(FileNotFoundError):
                os.replace(d / "result.json", d / "result.json.bad")

    def save(self, cfg: Any, final: dict[str, Any], arrays: dict[str, np.ndarray],
             provenance: dict[str, Any], drop: Sequence[str | os.PathLike[str]] = (),
             status: str = "ok") -> RunResult:
        """Store a completed run, replacing any stored one only once the new one is complete.

        The arrays go to an immutable file named by their hash; the record, which
        names it, is staged complete as ``result.json.new`` and renamed over
        `result.json` last; then arrays files no record names are removed.
        ``drop``: files made obsolete by this result (the run's checkpoint), deleted
        once the record is staged and before it is renamed into place, so that a
        kill at any point leaves either a resumable checkpoint or a finished result
        (a staged record is rolled forward by the next writer).
        """
        d = self.run_dir(cfg)
        d.mkdir(parents=True, exist_ok=True)
        self._finish_swap(d)
        self._set_aside(d)
        _atomic_write_bytes(d / "config.json", (canonical_json(cfg) + "\n").encode())
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        data = buf.getvalue()
        digest = _sha256(data)
        arrays_name = f"arrays-{digest[:16]}.npz"
        prov = {**provenance, "finished_at": now_utc()}
        if isinstance(prov.get("data"), str):
            prov["data"] = portable_data(prov["data"])
        record = {"experiment": experiment_name(cfg), "hash": config_hash(cfg), "config": to_dict(cfg),
                  "final": final, "provenance": prov, "arrays_file": arrays_name, "arrays_sha256": digest}
        if status != "ok":
            record["status"] = status
        record = seal(record)
        if not (d / arrays_name).exists() or _sha256((d / arrays_name).read_bytes()) != digest:
            _atomic_write_bytes(d / arrays_name, data)
        faults.point("final_save")
        _atomic_write_bytes(d / "result.json.new", record_bytes(record))  # complete: a kill now rolls forward
        for p in drop:
            Path(p).unlink(missing_ok=True)
        faults.point("final_swap")
        self._finish_swap(d)
        res = self.load(cfg)
        assert res is not None, f"the result just stored in {d} does not verify"
        res.cached = False
        return res

    def save_diverged(self, cfg: Any, reason: str, step: int, provenance: dict[str, Any],
                      drop: Sequence[str | os.PathLike[str]] = ()) -> RunResult:
        """Record that ``cfg`` diverged (never as valid metrics): claims show it as n/a with ``reason``."""
        return self.save(cfg, {"step": int(step)}, {}, {**provenance, "diverged": reason}, drop=drop,
                         status="diverged")

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
        """The records of all verified runs (optionally of one experiment), as stored; runs that
        fail their checks are reported (see `problems`) and skipped, never moved."""
        out = []
        for d in self._run_dirs(experiment):
            res, why = self.check_dir(d)
            if res is None:
                if why is not None:
                    report(d, why)
                continue
            out.append({"experiment": d.parent.name, "hash": d.name, "config": res.config, "final": res.final,
                        "provenance": res.provenance, "status": res.status})
        return out
