"""Submit the runs a figure needs to a cluster (SLURM) or to background processes (local), via submitit.

One job per *stack*: the configs an experiment trains together (Figure 1's five
noise levels share one stacked trainer, so they are one job; each Figure 4
cell is its own job). A job calls `ensure_runs` on its stack, so it trains
only what is not stored and resumes from the trainer's checkpoint
(`runs/<experiment>/_ckpt/`) when restarted.

Safe to call again: a stack whose runs are all stored is skipped, and so is
one whose job is still queued or running. What a job is doing is kept beside
the run store in ``<store>/_sweeps/<experiment>/<stack key>.json`` (job id,
executor, submitting host, controller pid) and ``.alive`` (a heartbeat the
job's rank 0 rewrites every `HEARTBEAT_S` seconds with its host and pid). A
stack counts as active while its worker pid is alive on this host, its
heartbeat is fresher than ``stale_s`` (another host), SLURM reports its job
pending/running, or a local controller that has not started it yet is alive.
Otherwise it is submitted again and resumes from its checkpoint.

Preemption and timeouts on SLURM: submitit signals the job, which asks to be
requeued (`GroupJob.checkpoint`); the requeued job resumes from the trainer's
last periodic checkpoint. Multi-GPU (``ddp`` and ``gpus_per_node > 1``, for the
WS experiments' DDP trainer): submitit starts one task per GPU and each task exports the RANK / LOCAL_RANK / WORLD_SIZE /
MASTER_ADDR / MASTER_PORT that torchrun would set, which the DDP trainer reads.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from cgh_lib.errors import UserError, choice_error
from cgh_lib.store.config import config_hash
from cgh_lib.store.experiments import RunOptions, ensure_runs, get_experiment, group_key
from cgh_lib.store.runstore import RunStore

EXECUTORS = ("local", "slurm")
HEARTBEAT_S = 30.0
SLURM_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED",
                "REQUEUE_HOLD", "REQUEUE_FED"}


@dataclass
class ClusterOptions:
    """Resources of each job (what `cgh sweep` passes to submitit)."""

    executor: str = "local"
    partition: str | None = None
    gpus_per_node: int = 0
    time_min: int = 24 * 60
    cpus_per_task: int = 8
    mem_gb: int | None = None
    account: str | None = None
    ddp: bool = False  # one DDP task per GPU (the WS loader trainer); else one process uses the GPUs it is given
    extra: dict[str, Any] = field(default_factory=dict)  # more slurm_* parameters, verbatim

    def validate(self) -> None:
        if self.executor not in EXECUTORS:
            raise choice_error("executor", self.executor, EXECUTORS)
        for name in ("gpus_per_node", "time_min", "cpus_per_task"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (0 if name == "gpus_per_node" else 1):
                raise UserError(f"{name.replace('_', '-')} must be a {'non-negative' if name == 'gpus_per_node' else 'positive'}"
                                f" integer, got {v!r}")


@dataclass
class StackState:
    """One stack of a sweep and what the sweep did with it."""

    experiment: str
    key: str
    runs: int
    stored: int
    state: str  # "stored" | "active" | "submitted"
    job_id: str | None = None


def _sweep_dir(store: RunStore, experiment: str) -> Path:
    return store.root / "_sweeps" / experiment


def pid_alive(pid: int) -> bool:
    """True if a process with this pid runs on this host (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_json(p: Path) -> dict[str, Any] | None:
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def _slurm_state(folder: str, job_id: str) -> str | None:
    try:
        import submitit

        return str(submitit.SlurmJob(folder=folder, job_id=job_id).state).upper()
    except Exception:  # no sacct/squeue here, or an unknown id: undecided
        return None


def stack_active(store: RunStore, experiment: str, key: str, stale_s: float = 4 * HEARTBEAT_S) -> bool:
    """Whether a previously submitted job for this stack is queued or running (see module doc)."""
    d = _sweep_dir(store, experiment)
    host = socket.gethostname()
    hb_path = d / f"{key}.alive"
    hb = _read_json(hb_path)
    if hb is not None:
        if hb.get("host") == host:
            if pid_alive(int(hb.get("pid", -1))):
                return True
        elif time.time() - hb_path.stat().st_mtime < stale_s:
            return True
    rec = _read_json(d / f"{key}.json")
    if rec is None:
        return False
    if rec.get("executor") == "local":
        started = hb is not None and hb.get("started", 0) >= rec.get("submitted_at", 0)
        return rec.get("host") == host and not started and pid_alive(int(rec.get("controller_pid", -1)))
    state = _slurm_state(rec.get("folder", ""), str(rec.get("job_id")))
    if state is None:  # cannot ask SLURM: trust a recent submission
        return time.time() - rec.get("submitted_at", 0) < stale_s
    return state.split()[0] in SLURM_ACTIVE


class GroupJob:
    """The callable a submitit job runs: train (or resume) one stack of configs."""

    def __init__(self, configs: Sequence[Any], store_root: str, data_root: str | None, device: str,
                 checkpoint_every_steps: int = 0, distributed: bool = False) -> None:
        self.configs = list(configs)
        self.store_root = store_root
        self.data_root = data_root
        self.device = device
        self.checkpoint_every_steps = checkpoint_every_steps
        self.distributed = distributed

    @property
    def experiment(self) -> str:
        return type(self.configs[0]).EXPERIMENT

    def _heartbeat(self, path: Path, stop: threading.Event) -> None:
        info = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        while True:
            info["time"] = time.time()
            tmp = path.with_suffix(f".alive.{os.getpid()}")
            tmp.write_text(json.dumps(info))
            os.replace(tmp, path)
            if stop.wait(HEARTBEAT_S):
                return

    def __call__(self) -> list[str]:
        if self.distributed:
            import submitit

            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        from cgh_lib.book.registry import discover

        discover()  # register the papers' experiments in this fresh process
        store = RunStore(self.store_root)
        rank0 = int(os.environ.get("RANK", "0")) == 0
        stop = threading.Event()
        if rank0:
            d = _sweep_dir(store, self.experiment)
            d.mkdir(parents=True, exist_ok=True)
            threading.Thread(target=self._heartbeat, args=(d / f"{group_key(self.configs)}.alive", stop),
                             daemon=True).start()
        try:
            opts = RunOptions(data_root=self.data_root, device=self.device, store=store, progress=False,
                              checkpoint_every_steps=self.checkpoint_every_steps)
            results = ensure_runs(self.configs, opts)
            return [str(r.path) for r in results]
        finally:
            stop.set()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's preemption/timeout hook: requeue this same job; it resumes from the trainer's checkpoint."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


def stacks(configs: Sequence[Any]) -> list[list[Any]]:
    """Configs grouped into the stacks their experiment trains together (first-seen order)."""
    out: dict[Any, list[Any]] = {}
    seen: set[str] = set()
    for c in configs:
        h = config_hash(c)
        if h in seen:
            continue
        seen.add(h)
        exp = get_experiment(type(c).EXPERIMENT)
        out.setdefault((exp.name, exp.stack_key(c)), []).append(c)
    return list(out.values())


def _executor(folder: Path, cluster: ClusterOptions, name: str) -> Any:
    try:
        import submitit
    except ImportError as e:  # a dependency in pyproject.toml; only a broken install lacks it
        raise UserError(f"cgh sweep needs submitit ({e}); install the project with pip install -e .") from None
    tasks = max(cluster.gpus_per_node, 1) if cluster.ddp else 1
    if cluster.executor == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=cluster.time_min, gpus_per_node=cluster.gpus_per_node,
                             tasks_per_node=tasks)
        return ex
    try:
        ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    except RuntimeError as e:  # no srun here
        raise UserError(f"executor 'slurm' needs a SLURM login node ({e}); accepted: run there, or --executor local") \
            from None
    params: dict[str, Any] = dict(timeout_min=cluster.time_min, gpus_per_node=cluster.gpus_per_node,
                                  tasks_per_node=tasks, cpus_per_task=cluster.cpus_per_task, nodes=1, name=name,
                                  slurm_signal_delay_s=120)
    if cluster.partition:
        params["slurm_partition"] = cluster.partition
    if cluster.mem_gb:
        params["mem_gb"] = cluster.mem_gb
    if cluster.account:
        params["slurm_account"] = cluster.account
    params.update({k if k.startswith("slurm_") else f"slurm_{k}": v for k, v in cluster.extra.items()})
    ex.update_parameters(**params)
    return ex


def sweep(configs: Sequence[Any], store: RunStore, cluster: ClusterOptions, *, data_root: str | None = None,
          device: str = "auto", checkpoint_every_steps: int = 0, dry_run: bool = False,
          stale_s: float = 4 * HEARTBEAT_S) -> list[StackState]:
    """Submit one job per stack that has unstored runs and no active job; return every stack's state.

    Returns at once (jobs run in the background or on the cluster). ``dry_run``
    reports what would be submitted without submitting.
    """
    cluster.validate()
    out: list[StackState] = []
    for group in stacks(configs):
        exp = type(group[0]).EXPERIMENT
        key = group_key(group)
        stored = sum(store.has(c) for c in group)
        st = StackState(exp, key, len(group), stored, "stored")
        if stored == len(group):
            out.append(st)
            continue
        d = _sweep_dir(store, exp)
        rec = _read_json(d / f"{key}.json")
        if stack_active(store, exp, key, stale_s):
            st.state, st.job_id = "active", (rec or {}).get("job_id")
            out.append(st)
            continue
        st.state = "submitted"
        if not dry_run:
            d.mkdir(parents=True, exist_ok=True)
            folder = store.root / "_sweeps" / "logs"
            ex = _executor(folder, cluster, f"cgh-{exp}-{key[:8]}")
            job = ex.submit(GroupJob(group, str(store.root), data_root, device, checkpoint_every_steps,
                                     distributed=cluster.ddp and cluster.gpus_per_node > 1))
            record = {"job_id": str(job.job_id), "executor": cluster.executor, "host": socket.gethostname(),
                      "submitted_at": time.time(), "folder": str(folder),
                      "controller_pid": getattr(getattr(job, "_process", None), "pid", None),
                      "configs": [config_hash(c) for c in group], "cluster": asdict(cluster)}
            tmp = d / f"{key}.json.tmp"
            tmp.write_text(json.dumps(record, indent=1))
            os.replace(tmp, d / f"{key}.json")
            st.job_id = str(job.job_id)
            st.job = job  # type: ignore[attr-defined]  # the live handle, for callers in this process
        out.append(st)
    return out
