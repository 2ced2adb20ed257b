"""Give every stored result a checksum, honestly (issue 20).

Results stored before checksums existed carry none, and the run store no longer
serves such a result. This tool adds them, in two ways:

* ``--recompute`` (cheap runs: the smoke profile's generated data): each run is
  recomputed in a scratch store with the thread count its provenance records,
  and only if the recomputed run equals the stored one is the stored record
  sealed, its numbers unchanged (``provenance.checksum_added`` says when, at
  which commit, and how equal: bit-equal, or equal up to float reordering with
  the largest relative difference; every integer and boolean array, e.g. which
  examples were learned when, must be bit-equal, floats within rtol 1e-4).
  A run that differs more is left alone and listed.
* ``--rehash`` (runs too expensive to recompute here): the record is sealed as
  it is, with ``provenance.rehashed`` saying the checksum was added without
  recomputing; the book and README say what that means.

Either way the arrays file is unchanged; the record is rewritten as strict JSON
(non-finite floats listed under ``nonfinite``). Usage::

    python tools/rehash_runs.py --runs runs --recompute --only-synthetic
    python tools/rehash_runs.py --runs runs --rehash
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cgh_lib.book.registry import discover  # noqa: E402
from cgh_lib.store.config import from_dict  # noqa: E402
from cgh_lib.store.experiments import RunOptions, ensure_runs, get_experiment  # noqa: E402
from cgh_lib.store.provenance import git_commit, now_utc  # noqa: E402
from cgh_lib.store.runstore import RunStore, _atomic_write_bytes, record_bytes, seal  # noqa: E402


def unsealed(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*/result.json") if "checksum" not in json.loads(p.read_text()))


def _arrays(d: Path) -> dict[str, np.ndarray]:
    with np.load(d / "arrays.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def seal_in_place(res: Path, note: dict[str, str]) -> None:
    rec = json.loads(res.read_text())
    raw = (res.parent / "arrays.npz").read_bytes()
    rec["arrays_sha256"] = hashlib.sha256(raw).hexdigest()
    rec["provenance"] = {**rec["provenance"], **note}
    _atomic_write_bytes(res, record_bytes(seal(rec)))


RTOL, ATOL = 1e-4, 1e-6  # float reordering (another commit's kernel order, thread count) moves last digits only


def compare(old_final: dict, new_final: dict, a: dict, b: dict) -> float | None:
    """None if the runs differ beyond float reordering (any integer or boolean array, a key or a shape,
    or a float beyond rtol 1e-4 / atol 1e-6); else the largest relative difference of a float."""
    if sorted(a) != sorted(b) or sorted(old_final) != sorted(new_final):
        return None
    worst = 0.0
    pairs = [(np.asarray(old_final[k], dtype=float), np.asarray(new_final[k], dtype=float)) for k in old_final
             if isinstance(old_final[k], (int, float)) or old_final[k] is None]
    for k in a:
        if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape:
            return None
        if a[k].dtype.kind == "f":
            pairs.append((a[k].astype(float), b[k].astype(float)))
        elif not np.array_equal(a[k], b[k]):
            return None
    for x, y in pairs:
        if not np.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True):
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-30)
        rel = rel[np.isfinite(rel)]
        worst = max(worst, float(rel.max()) if rel.size else 0.0)
    return worst


def recompute(root: Path, only_synthetic: bool, also_rehash: bool = False) -> None:
    import torch

    todo: dict[tuple[str, int], list[tuple[Path, object]]] = defaultdict(list)
    for res in unsealed(root):
        rec = json.loads(res.read_text())
        if only_synthetic and rec["config"].get("dataset") != "synthetic":
            continue
        exp = get_experiment(rec["experiment"])
        cfg = from_dict(exp.config_cls, rec["config"])
        todo[(rec["experiment"], int(rec["provenance"].get("torch_threads") or 1))].append((res, cfg))
    commit = git_commit()["commit"]
    for (name, threads), items in sorted(todo.items()):
        torch.set_num_threads(threads)
        with tempfile.TemporaryDirectory() as tmp:
            got = ensure_runs([c for _, c in items], RunOptions(store=RunStore(tmp), progress=False,
                                                                data_root=os.environ.get("CGH_DATA")),
                              allow_diverged=True)
            for (res, _), new in zip(items, got):
                old = json.loads(res.read_text())
                diff = compare(old["final"], new.final, _arrays(res.parent), new.arrays)
                if diff is not None:
                    how = ("bit-equal" if diff == 0 else
                           f"equal up to float reordering (largest relative difference {diff:.1e})")
                    seal_in_place(res, {"checksum_added": f"{now_utc()[:10]}, after recomputing the run at commit "
                                                          f"{commit[:10]} ({threads} threads): {how}"})
                else:
                    how = "DIFFERS, left unsealed"
                    if also_rehash:  # keep the numbers as first stored, and say that a recompute differs
                        seal_in_place(res, {"rehashed": f"{now_utc()[:10]}: checksum added without a matching "
                                                        f"recompute (recomputed at commit {commit[:10]}, it differs "
                                                        "beyond float reordering); its numbers are as first stored"})
                        how = "DIFFERS, rehashed"
                print(f"{name} {res.parent.name}: {'sealed, ' + how if diff is not None else how}", flush=True)


def rehash(root: Path) -> None:
    for res in unsealed(root):
        seal_in_place(res, {"rehashed": f"{now_utc()[:10]}: checksum added without recomputing (the result "
                                        "predates checksums; its numbers are as first stored)"})
        print(f"{res.parent.parent.name} {res.parent.name}: rehashed", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--recompute", action="store_true")
    ap.add_argument("--only-synthetic", action="store_true")
    ap.add_argument("--rehash", action="store_true")
    a = ap.parse_args()
    discover()
    root = Path(a.runs)
    if a.recompute:
        recompute(root, a.only_synthetic, a.rehash)
    if a.rehash:
        rehash(root)
    print(f"{len(unsealed(root))} result(s) without a checksum remain under {root}")


if __name__ == "__main__":
    main()
