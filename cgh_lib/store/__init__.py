"""Store layer: configs as data and their hashes, the run store, provenance, the experiment registry
and `ensure_runs` (cached or computed)."""

from cgh_lib.store.config import (  # noqa: F401
    C,
    to_dict,
    experiment_name,
    canonical_json,
    config_hash,
    from_dict,
    parse_int,
    apply_overrides,
    parse_kv,
)
from cgh_lib.store.experiments import (  # noqa: F401
    DEVICES,
    RunOptions,
    Experiment,
    EXPERIMENTS,
    PROFILES,
    register,
    get_experiment,
    check_profile,
    SEEDS,
    default_seeds,
    make_config,
    sweep_configs,
    group_key,
    ensure_runs,
)
from cgh_lib.store.provenance import (  # noqa: F401
    REPO_ROOT,
    git_commit,
    device_name,
    now_utc,
    provenance,
)
from cgh_lib.store.runstore import (  # noqa: F401
    default_root,
    RunResult,
    RunStore,
)
