"""The ``cgh`` command line: run experiments, execute figures, build the book.

Every user mistake ends in one line on stderr naming the bad value and the
accepted ones, with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

from cgh_lib.errors import FigureFailed, UserError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints usage too)
        raise UserError(message)


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def cmd_run(a: argparse.Namespace) -> int:
    from cgh_lib.book.registry import make_config
    from cgh_lib.store.config import config_hash, parse_kv
    from cgh_lib.store.experiments import RunOptions, ensure_runs
    from cgh_lib.store.runstore import RunStore

    cfg = make_config(a.experiment, a.profile, parse_kv(a.param))
    opts = RunOptions(data_root=a.data_root, device=a.device, store=RunStore(a.runs), force=a.force,
                      progress=not a.no_progress and sys.stderr.isatty(),  # no bars in a log file
                      checkpoint_every_steps=a.checkpoint_every_steps)
    opts.torch_device()  # validate before any work
    (res,) = ensure_runs([cfg], opts)  # res.cached: read from the store, not computed by this process
    print(f"stored in {res.path}", file=sys.stderr)
    print(json.dumps(_json_safe({"experiment": a.experiment, "hash": config_hash(cfg), "cached": res.cached,
                                 **res.final, "wall_time_s": res.wall_time_s}), sort_keys=True, allow_nan=False))
    return 0


def cmd_figure(a: argparse.Namespace) -> int:
    from cgh_lib.book.build import execute_figure
    from cgh_lib.store.config import parse_kv

    params = parse_kv(a.param)
    if a.data_root is not None:
        if params.get("data_root", a.data_root) != a.data_root:
            raise UserError(f"--data-root {a.data_root!r} and -p data_root={params['data_root']!r} disagree; "
                            "accepted: one of them")
        params["data_root"] = a.data_root
    out = execute_figure(a.figure, a.profile, params, progress=not a.no_progress)
    print(out)
    return 0


def cmd_book(a: argparse.Namespace) -> int:
    from cgh_lib.book.build import build_book, check_publish, publish

    remote = check_publish(a.remote, force=a.force_push, allow_local=a.allow_local_remote) if a.publish else None
    index = build_book(a.profile, force=a.force, progress=not a.no_progress, repo_url=a.repo_url, jobs=a.jobs)
    print(f"book built: {index}")
    if remote is not None:
        publish(index.parent, remote=remote, force=a.force_push)
        print(f"published to the gh-pages branch of {remote.name} ({remote.url})")
    return 0


def cmd_list(a: argparse.Namespace) -> int:
    from cgh_lib.book import catalog

    specs = catalog.figure_specs()  # read from the sources: no paper (and no torch) is imported
    if specs is None:
        from cgh_lib.book.build import list_figures

        rows = list_figures()
    else:
        rows = catalog.list_rows(specs)
    print(f"{'figure':<16} {'profile':<8} {'last executed':<27} {'up to date':<10} notebook")
    for r in rows:
        print(f"{r['figure']:<16} {r['profile']:<8} {r['executed_at']:<27} {str(r['up_to_date']).lower():<10} "
              f"{r['notebook']}")
    return 0


def _minutes(v: str) -> int:
    """--time: minutes, or [D-]HH:MM[:SS] as SLURM writes it."""
    try:
        if ":" not in v:
            return int(v)
        days, _, hms = v.rpartition("-")
        parts = [int(x) for x in hms.split(":")]
        h, m, sec = (parts + [0])[:3] if len(parts) == 2 else parts
        return int(days or 0) * 1440 + h * 60 + m + (1 if sec else 0)
    except ValueError:
        raise UserError(f"--time {v!r} is not a duration; accepted: minutes (e.g. 240) or [D-]HH:MM[:SS]") from None


def cmd_sweep(a: argparse.Namespace) -> int:
    from cgh_lib.book.registry import get_figure
    from cgh_lib.book.sweep import ClusterOptions, sweep
    from cgh_lib.store.config import apply_overrides, parse_kv
    from cgh_lib.store.runstore import RunStore

    fig = get_figure(a.figure)
    overrides = parse_kv(a.param)
    configs = [apply_overrides(c, overrides) for c in fig.configs(a.profile)]
    if not configs:
        raise UserError(f"figure {a.figure!r} registers no runs at profile {a.profile!r}")
    cluster = ClusterOptions(executor=a.executor, partition=a.partition, gpus_per_node=a.gpus_per_node,
                             time_min=_minutes(a.time), cpus_per_task=a.cpus_per_task, mem_gb=a.mem_gb,
                             account=a.account, ddp=a.ddp)
    states = sweep(configs, RunStore(a.runs), cluster, data_root=a.data_root, device=a.device,
                   checkpoint_every_steps=a.checkpoint_every_steps, dry_run=a.dry_run)
    for st in states:
        print(f"{st.experiment:<24} {st.key}  {st.stored}/{st.runs} stored  "
              f"{'would submit' if a.dry_run and st.state == 'submitted' else st.state}"
              f"{'  job ' + st.job_id if st.job_id else ''}", file=sys.stderr)
    count = {k: sum(s.state == k for s in states) for k in ("submitted", "active", "stored")}
    print(json.dumps({"figure": a.figure, "profile": a.profile, "executor": a.executor, "dry_run": a.dry_run,
                      "runs": sum(s.runs for s in states), "stacks": len(states), **count,
                      "job_ids": [s.job_id for s in states if s.state == "submitted" and s.job_id]}))
    return 0


def cmd_plan(a: argparse.Namespace) -> int:
    from cgh_lib.book.plan import format_plan, plan
    from cgh_lib.store.runstore import RunStore

    rows, gpu = plan(a.profile or "paper", RunStore(a.runs))
    print(format_plan(rows, gpu, a.profile or "paper"))
    return 0


def cmd_claims(a: argparse.Namespace) -> int:
    from cgh_lib.book import claims
    from cgh_lib.store.runstore import RunStore

    verdicts = claims.evaluate(a.figure, a.profile, RunStore(a.runs))
    if a.json:
        print(json.dumps([_json_safe(v.as_dict()) for v in verdicts], indent=1, ensure_ascii=False, allow_nan=False))
    else:
        print(claims.text_table(verdicts))
    return 0


def _figure_epilog(argv: Sequence[str]) -> str:
    """The end of `cgh figure --help`: the figures, or with a figure id, that figure's parameters
    (read from its notebook, so no paper is imported)."""
    from cgh_lib.book import catalog

    specs = catalog.figure_specs() or []
    ids = {s.id: s for s in specs}
    rest = list(argv[1:]) if argv and argv[0] == "figure" else []
    chosen = next((a for a in rest if a in ids), None)
    if chosen:
        return catalog.parameters_help(ids[chosen])
    return "figures: " + ", ".join(ids) + "\n`cgh figure ID --help` lists a figure's parameters."


def _check_figure_name(args: argparse.Namespace) -> None:
    """A figure id that no paper registers: one line, before anything heavy is imported."""
    from cgh_lib.book import catalog

    registry = sys.modules.get("cgh_lib.book.registry")  # already imported (with torch): it knows every figure
    ids = list(registry.figures()) if registry is not None else catalog.figure_ids()
    name = getattr(args, "figure", None)
    if ids is not None and isinstance(name, str) and name not in ids:
        from cgh_lib.errors import choice_error

        raise choice_error("figure", name, ids)


def build_parser(figure_epilog: str | None = None) -> argparse.ArgumentParser:
    p = _Parser(prog="cgh", description="Coherent Gradients book: runs, figures, site.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser, required=True)
    r = sub.add_parser("run", help="train one configured run (cached by config hash)")
    r.add_argument("experiment")
    r.add_argument("--profile", default=None, help="start from a profile's settings (default: the paper's)")
    r.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="override a config field")
    r.add_argument("--force", action="store_true", help="recompute even if stored")
    r.add_argument("--data-root", default=None, help="dataset folder (default: $CGH_DATA, then download)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda")
    r.add_argument("--runs", default=None, help="run store folder (default: $CGH_RUNS or ./runs)")
    r.add_argument("--checkpoint-every-steps", type=int, default=0, help="also checkpoint every N steps")
    r.add_argument("--no-progress", action="store_true")
    r.set_defaults(fn=cmd_run)
    f = sub.add_parser("figure", help="execute a figure notebook with papermill",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=figure_epilog)
    f.add_argument("figure", help="a figure id (`cgh list`); `cgh figure ID --help` lists its parameters")
    f.add_argument("--profile", default="smoke", help="smoke, small, large or paper (default: smoke)")
    f.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="notebook parameter")
    f.add_argument("--data-root", default=None,
                   help="dataset folder, the same as -p data_root=... (default: $CGH_DATA, then download)")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(fn=cmd_figure)
    b = sub.add_parser("book", help="render every figure and build the site (default: from the stored runs)")
    b.add_argument("--profile", default=None,
                   help="render every figure at this profile, training missing runs (default: each figure at "
                        "its highest profile whose runs are all stored; nothing is trained)")
    b.add_argument("--force", action="store_true", help="re-execute every figure")
    b.add_argument("--no-progress", action="store_true")
    b.add_argument("--jobs", type=int, default=0,
                   help="notebooks executed side by side (default: up to 4 when every run is stored, else 1)")
    b.add_argument("--publish", action="store_true", help="then push the site to the gh-pages branch of --remote "
                   "(checked before building; never force-pushed without --force-push)")
    b.add_argument("--remote", default="origin", help="with --publish: the git remote to push to (default: origin)")
    b.add_argument("--force-push", action="store_true", help="with --publish: replace the remote gh-pages history")
    b.add_argument("--allow-local-remote", action="store_true",
                   help="with --publish: allow a remote that is a local path (pushing there is not publishing)")
    b.add_argument("--repo-url", default=None,
                   help="public repository URL for the launch and repository buttons (default: $CGH_REPO_URL, "
                        "else the git remote if it is https)")
    b.set_defaults(fn=cmd_book)
    cl = sub.add_parser("claims", help="the papers' claims checked on the stored runs (never trains)")
    cl.add_argument("figure", nargs="*", help="figure ids (default: every figure with claims)")
    cl.add_argument("--profile", default="small")
    cl.add_argument("--json", action="store_true", help="a JSON list of claim records")
    cl.add_argument("--runs", default=None, help="run store folder (default: $CGH_RUNS or ./runs)")
    cl.set_defaults(fn=cmd_claims)
    ls = sub.add_parser("list", help="figures, their profile and when they last ran")
    ls.add_argument("--plan", action="store_true",
                    help="per figure: runs needed at --profile, how many are stored, estimated GPU-hours")
    ls.add_argument("--profile", default=None, help="with --plan: the profile to plan (default: paper)")
    ls.add_argument("--runs", default=None, help="run store folder (default: $CGH_RUNS or ./runs)")
    ls.set_defaults(fn=lambda a: cmd_plan(a) if a.plan else cmd_list(a))
    _add_sweep_parser(sub)
    return p


def _add_sweep_parser(sub: Any) -> None:
    s = sub.add_parser("sweep", help="submit every unstored run a figure needs (submitit: local or SLURM)")
    s.add_argument("figure")
    s.add_argument("--profile", default="paper")
    s.add_argument("--executor", default="local", help="local (background processes) or slurm")
    s.add_argument("--partition", default=None)
    s.add_argument("--gpus-per-node", type=int, default=0, help="GPUs per job")
    s.add_argument("--ddp", action="store_true", help="one DDP task per GPU (the WS experiments; torchrun's "
                   "environment is set in each task)")
    s.add_argument("--time", default="1440", help="time limit per job: minutes or [D-]HH:MM[:SS]")
    s.add_argument("--cpus-per-task", type=int, default=8)
    s.add_argument("--mem-gb", type=int, default=None)
    s.add_argument("--account", default=None)
    s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="override a config field of every run")
    s.add_argument("--runs", default=None, help="run store folder (default: $CGH_RUNS or ./runs); must be shared "
                   "with the cluster nodes")
    s.add_argument("--data-root", default=None)
    s.add_argument("--device", default="auto")
    s.add_argument("--checkpoint-every-steps", type=int, default=0)
    s.add_argument("--dry-run", action="store_true", help="say what would be submitted, submit nothing")
    s.set_defaults(fn=cmd_sweep)


def _on_sigterm(signum: int, frame: Any) -> None:
    from cgh_lib.errors import Interrupted

    raise Interrupted(signum)


def main(argv: Sequence[str] | None = None) -> int:
    import signal

    try:  # SIGTERM (a preemption) ends like Ctrl-C; inside training both wait for the step to end
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread
        pass
    try:
        argv = sys.argv[1:] if argv is None else list(argv)
        wants_help = argv[:1] == ["figure"] and ("-h" in argv or "--help" in argv)
        args = build_parser(_figure_epilog(argv) if wants_help else None).parse_args(argv)
        if args.command in ("figure", "sweep"):
            _check_figure_name(args)
        if getattr(args, "profile", None) is not None:
            from cgh_lib.store.experiments import check_profile
            check_profile(args.profile)
        return args.fn(args)
    except UserError as e:
        print(f"cgh: error: {e}", file=sys.stderr)
        return 2
    except FigureFailed as e:  # not the user's fault: one line saying where the traceback is, exit 1
        print(f"cgh: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, read-only store, a file where a folder should be: one line, the path, the fix
        from cgh_lib.errors import os_error_line

        print(f"cgh: error: {os_error_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM (a preemption), stopped at a step boundary
        print("cgh: interrupted; the last checkpoint is kept, rerun the same command to resume", file=sys.stderr)
        return 128 + int(getattr(e, "signum", 2))


if __name__ == "__main__":
    sys.exit(main())
