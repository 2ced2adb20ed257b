"""The parts every figure page shares, as calls a notebook makes (`cgh_lib.book.page`).

A figure notebook (``notebooks/*.md``) reads top to bottom like a section of the paper:
prose; its parameters; one call that gets the runs (a paper's ``pages`` helper returning
`PageRuns`); one that draws; one for the claims; prose. What repeats on every page lives
here, so that a page holds no code another page copies:

- `setting`: the line under the title, the paper's setting and the shown one, read from the
  figure's configs (numbers are never typed into a page);
- `profile_line`: what the runs shown are (profile, data, length, seeds);
- `caption`: the provenance caption under a figure (where, on what, at which commit);
- `explore`: the explorer of the figure's stored runs;
- `claims` / `outcomes`: the claims table and the generated outcome sentences;
- `scale_note`: each profile's scale, read from the configs.

This module reaches the papers only through the registry (tests/test_layers.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from cgh_lib.book import plotting

# display names of the configs' model and dataset fields (presentation only)
MODELS = {"small_cnn": "a small CNN", "resnet18": "ResNet-18", "resnet32": "ResNet-32", "resnet50": "ResNet-50",
          "vgg13": "VGG-13", "inception_v3": "Inception-V3"}
DATASETS = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "synthetic": "generated", "imagenet": "ImageNet",
            "cifar10": "CIFAR-10"}
PROFILE_WORDS = {"smoke": "generated data, seconds", "small": "real data, a CPU",
                 "large": "the paper's settings on the data available offline", "paper": "the paper's settings"}


def _display(markdown: str) -> None:
    from IPython.display import Markdown, display

    display(Markdown(markdown))


def count(n: int) -> str:
    """A count as a page prints it: powers of ten from 10,000 up as MathJax ($10^5$), else with commas."""
    if n >= 10_000 and 10 ** round(math.log10(n)) == n:
        k = round(math.log10(n))
        return f"$10^{k}$" if k < 10 else f"$10^{{{k}}}$"
    return f"{n:,}"


def _get(c: Any, name: str, default: Any = None) -> Any:
    return c.get(name, default) if isinstance(c, Mapping) else getattr(c, name, default)


def describe(config: Any) -> str:
    """One config in words: model, data, length (e.g. "MLP 784-2048-10, 22,699 MNIST images, $10^4$ steps")."""
    hidden = _get(config, "hidden")
    layers = f"{hidden[0]}x{len(hidden)}" if hidden and len(hidden) > 1 and len(set(hidden)) == 1 else (
        "-".join(map(str, hidden or ())))
    model = (f"MLP 784-{layers}-10" if hidden
             else MODELS.get(_get(config, "model"), f"`{_get(config, 'model')}`"))
    if _get(config, "model") == "small_cnn" and _get(config, "width"):
        model += f" (width {_get(config, 'width')})"
    data = DATASETS.get(_get(config, "dataset"), _get(config, "dataset"))
    n = _get(config, "n_train") or _get(config, "n_data") or 0
    images = f"{count(n)} {data} images" if n else f"full {data}"
    if _get(config, "dataset") == "synthetic":
        images = f"{count(n)} generated examples" if n else "generated data"
    if _get(config, "subset") and n:  # WS §4: trained on an easy or hard set of that size
        images = f"e/h sets of {images.removeprefix('full ')}"
    if _get(config, "steps"):
        length = f"{count(_get(config, 'steps'))} steps"
    elif _get(config, "epochs"):
        length = f"{_get(config, 'epochs')} epochs"
    else:
        length = f"{count(_get(config, 'max_steps') or 0)} steps"
    return f"{model}, {images}, {length}"


def _configs(fig_id: str, profile: str) -> list[Any]:
    from cgh_lib.book.registry import get_figure
    from cgh_lib.errors import UserError

    try:
        configs = list(get_figure(fig_id).configs(profile))
    except UserError:  # the profile is not defined for this figure's experiments
        return []
    # a classification to 50% (WS §4) only decides which examples the figure's trainings use
    return [c for c in configs if _get(c, "stop_at") is None]


def describe_profile(fig_id: str, profile: str) -> str | None:
    """The figure's runs at ``profile`` in words (distinct descriptions joined), None if undefined."""
    seen: list[str] = []
    for c in _configs(fig_id, profile):
        d = describe(c)
        if d not in seen:
            seen.append(d)
    if not seen:
        return None
    return "; ".join(seen[:3]) + ("; ..." if len(seen) > 3 else "")


def setting_markdown(fig_id: str, profile: str) -> str:
    paper, shown = describe_profile(fig_id, "paper"), describe_profile(fig_id, profile)
    if profile == "paper" or paper == shown:
        return f"*The paper's setting, shown here* (profile **{profile}**): {shown}."
    return f"*Paper:* {paper}. *Shown here* (profile **{profile}**): {shown}."


def setting(fig_id: str, profile: str) -> None:
    """The line under a page's title: the paper's setting and the shown one, from the configs."""
    _display(setting_markdown(fig_id, profile))


def scale_note(fig_id: str, profiles: Sequence[str] = ("paper", "large", "small", "smoke")) -> None:
    """*Scale.*: one line per profile the figure defines, read from its configs."""
    lines = [f"- **{p}** ({PROFILE_WORDS[p]}): {d}." for p in profiles
             if p in PROFILE_WORDS and (d := describe_profile(fig_id, p))]
    _display("*Scale* (from the configs):\n\n" + "\n".join(lines))


# ----------------------------------------------------------------------------- runs
@dataclass
class PageRuns:
    """The runs a page shows: ``by_seed`` {seed: {key: run}}, and ``details``, what they are in words."""

    profile: str
    by_seed: dict[int, dict[Any, Any]]
    details: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # what a paper's helper also hands its page

    @property
    def seeds(self) -> list[int]:
        return list(self.by_seed)

    @property
    def by_key(self) -> dict[Any, list[Any]]:
        """{key: [run of each seed]}, what the plots draw as mean and min-max band."""
        return plotting.by_key(self.by_seed)

    @property
    def all(self) -> list[Any]:
        return [r for by in self.by_seed.values() for r in by.values()]


def note(markdown: str) -> None:
    """Display a generated sentence (e.g. a paper package's text computed from the store) as prose."""
    _display(markdown)


def wall_time(fig_id: str, profile: str) -> None:
    """The stored wall time of the figure's runs per seed: what a page says instead of a typed duration."""
    from cgh_lib.book import claims as _claims

    _display(_claims.stored_wall_time_text(fig_id, profile))


def show(obj: Any) -> None:
    """Display a table (or anything) in the middle of a cell."""
    from IPython.display import display

    display(obj)


def profile_line(runs: PageRuns) -> None:
    """**profile: P** (what the runs are; seeds), or the paper helper's own notes (``extra["notes"]``)."""
    if "notes" in runs.extra:
        _display(runs.extra["notes"])
        return
    seeds = ", ".join(map(str, runs.seeds))
    _display(f"**profile: {runs.profile}** ({runs.details}; seeds {seeds})." if runs.details
             else f"**profile: {runs.profile}** (seeds {seeds}).")


def title(name: str, profile: str, note: str = "") -> str:
    """The title drawn on a figure: what it reproduces (and a note, e.g. "50% noise") at which profile."""
    return f"{name} reproduced{', ' + note if note else ''} (profile: {profile})"


def caption(fig: Any, profile: str, runs: Any,
            stamp: Callable[[str, list[Any]], str] | str = plotting.run_stamp) -> None:
    """Show the figure(s) with the provenance caption of ``runs`` (`PageRuns`, or any nesting of runs):
    ``stamp(profile, runs)``, a paper's own stamp function, or the caption itself for a page without runs."""
    from cgh_lib.book.explorer import iter_runs

    if isinstance(stamp, str):
        plotting.stamp(fig, stamp)
        return
    flat = runs.all if isinstance(runs, PageRuns) else iter_runs(runs)
    plotting.stamp(fig, stamp(profile, flat))


def table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """Rows of a page's own small table, shown without the index column."""
    import pandas as pd

    return pd.DataFrame(rows).style.hide(axis="index")


def explore(fig_id: str, profile: str, runs: Any, controls: Sequence[Any], **kw: Any) -> Any:
    """The figure's explorer: its stored runs at every profile, one view per control setting."""
    from cgh_lib.book.explorer import explore_figure

    return explore_figure(fig_id, profile, runs, controls, **kw)


# ----------------------------------------------------------------------------- claims
def claims(fig_id: str, profile: str, overrides: Mapping[str, Any] | None = None,
           seeds: Sequence[int] | None = None) -> None:
    """The claims table, per seed from the stored runs (what `cgh claims FIG` prints)."""
    import pandas as pd
    from IPython.display import display

    from cgh_lib.book import claims as _claims

    pd.set_option("display.max_colwidth", None)
    _display(_claims.legend_markdown(fig_id))  # how to read it, generated from the verdict rules
    display(_claims.claims_table(fig_id, profile, overrides, seeds))


def outcomes(fig_id: str, profile: str, overrides: Mapping[str, Any] | None = None,
             seeds: Sequence[int] | None = None, heading: bool = True) -> None:
    """The outcome sentences, one generated bullet per claim (the only outcome prose on a page)."""
    from cgh_lib.book import claims as _claims

    if heading:
        _display(_claims.outcomes_markdown(fig_id, profile, overrides, seeds))
    else:
        verdicts = _claims.evaluate_figure(fig_id, profile, overrides, seeds)
        _display("\n".join("- " + s for s in _claims.outcome_sentences(verdicts)))
