"""Write the CG2020 Figure 1-4 notebooks (no outputs): `python tools/make_cg2020_fig234_notebooks.py`.

Every page: intro (the paper's setting vs the shown setting), parameters, runs for every
seed, the figure (seed bands), the claims table (`cgh_lib.book.claims`, the function
`cgh claims` uses), and "What we see": scale and caveats, the choices the code makes, and
the outcomes, generated from the claim rows (no number typed by hand).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.nbwrite import write  # noqa: E402


def choices_md(rows) -> str:
    """The choices the code makes that the paper leaves open (or states differently)."""
    return ("**Choices the code makes** (the paper's wording, where it has one → what the code does):\n\n"
            + "\n".join(f"- *{what}*: {paper} → {ours}" for what, paper, ours in rows))


CLAIMS_MD = ("## The paper's statements, checked on the runs above\n\nEach row quotes the sentence it tests and "
             "is computed per seed from the stored runs (`cgh claims {fig} --profile <profile>` prints the same "
             "table): *holds* / *fails* when every seed agrees, *mixed k/n* when k of n seeds hold, *n/a* when the "
             "precondition that gives the comparison its meaning fails (the reason shows the measurement), "
             "*missing* when runs are not stored. {extra}")
CLAIMS = '''
pd.set_option("display.max_colwidth", None)
display(claims.claims_table("{fig}", profile, {over}, seeds))
'''
OUTCOMES = 'display(Markdown(claims.outcomes_markdown("{fig}", profile, {over}, seeds)))'

MLP_CHOICES = [
    ("seeds", "not stated", "3 seeds at the small profile (0, 1, 2), 1 at smoke and paper; a seed sets the "
     "init (`seed`), the label-noise draw (`seed+1`) and the batch order (`seed+2`), shared by the noise levels"),
    ("initialization", '"We initialize it with Xavier"', "Xavier (Glorot) normal; the authors' code draws "
     "sqrt(2) times that std"),
    ("label noise", '"taking, say in the case of 25% label noise, 25% of the examples at random and randomly '
     'permuting their labels"', "exactly that count (`noise_scheme='exact'`); the authors' code selects each "
     "example with probability p (`'bernoulli'`)"),
    ("evaluation steps", "not stated", "the authors' schedule at the paper profile; a log grid below it"),
]

# --------------------------------------------------------------------------- Figure 1
FIG1_INTRO = '''
# CG2020 Figure 1 — paper: MLP 784-2048-10 on full MNIST, 10^5 steps; shown below the paper profile: the same MLP on 22,699 MNIST images, 10^4 steps

*Chatterjee, "Coherent Gradients", ICLR 2020, §2.1-2.3.* An MLP (784-2048-10, ReLU,
Xavier init) is trained with vanilla SGD (lr 0.1, batch 100, cross-entropy, no
regularizer) on MNIST whose training labels carry 0, 25, 50, 75 or 100% noise: that
fraction of examples is chosen at random and their labels are permuted among
themselves (test labels are untouched). *Pristine* examples kept their label, *corrupt*
ones did not.

**The paper's claim.** If gradients are coherent, similar examples reinforce each
other's gradient. Label noise makes examples less similar, so (1) more noise means a
weaker overall gradient and slower learning; (2) pristine examples, still similar to
each other, are learned faster than corrupt ones, at a rate close to the 0%-noise rate,
while corrupt ones learn like the 100%-noise case; (3) with fewer pristine examples,
their learning slows down.

Panel (d) is the paper's, as captioned: "first training step when an example is learned"
(the cumulative fraction of pristine / corrupt examples classified as their training label
at least once). Panel (e) is ours: the fraction learned *for good* (correct at that
evaluation and at every later one).
'''

FIG1_PARAMS = '''
# Parameters (papermill / `cgh figure cg2020-fig1 -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # MNIST folder; default: $CGH_DATA, then torchvision download
device = "auto"            # auto | cpu | cuda
noise_levels = [0.0, 0.25, 0.5, 0.75, 1.0]
overrides = {}             # any LabelNoiseConfig field, e.g. {"steps": 2000, "noise_scheme": "bernoulli"}
seeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)
'''

FIG1_RUN = '''
import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims, plotting
from cgh_lib.papers.cg2020 import fig1_label_noise as label_noise
from cgh_lib.papers.cg2020 import plots
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs

seeds = list(seeds or default_seeds(profile))
opts = RunOptions(data_root=data_root, device=device)
by_seed = {s: dict(zip(noise_levels, ensure_runs(label_noise.figure1_configs(profile, noise_levels,
                                                                            {**overrides, "seed": s}), opts)))
           for s in seeds}
runs = plotting.by_key(by_seed)  # noise -> [run of each seed]
c0 = label_noise.figure1_configs(profile, noise_levels, overrides)[0]
display(Markdown(f"**profile: {profile}** ({c0.dataset}, {c0.n_train:,} training examples, {c0.steps:,} steps, "
                 f"hidden {c0.hidden}, noise scheme `{c0.noise_scheme}`; seeds {', '.join(map(str, seeds))}). "
                 f"Run store: `{runs[noise_levels[0]][0].path.parent}`."))
'''

FIG1_FINAL = '''
final = pd.DataFrame({f"{n:.0%}": pd.DataFrame([r.final for r in rs]).mean(numeric_only=True)
                      for n, rs in runs.items()}).T
final[["train_acc", "test_acc", "pristine_acc", "corrupt_acc", "train_loss", "pristine_fraction"]].round(4)
'''

FIG1_TEXT = '''
## What we see

*Scale.* At the **paper** profile (full MNIST, 10^5 steps, a GPU) the paper reports that every
variant reaches 100% training accuracy. The **small** profile (22,699 real MNIST images,
10^4 steps on a CPU) is long enough for the early-training predictions (speed of learning,
pristine before corrupt) but not for the high-noise variants to memorize their training
sets, so the "100% training accuracy" row is not expected to hold there. The **smoke** profile
uses a generated dataset and 300 steps: it exercises the code path, and its numbers are not
evidence either way.

*Caveats.* The paper's "learning rate" is read as the steps until half of a group is first
learned, the mean of its learned curve, or the steps to 50% training accuracy; each row
names its statistic. Evaluations are on a log grid below the paper profile, so two noise
levels reaching a level at the same evaluation are a tie.
'''

FIG1_CHOICES = MLP_CHOICES + [
    ("'learned' (panel d)", '"First training step when an example is learned"', "the first evaluation at which "
     "the example is classified as its (possibly noisy) training label; panel (e) adds 'and at every later one'"),
]

# --------------------------------------------------------------------------- Figures 2, 3
LR_PARAMS = '''
# Parameters (papermill / `cgh figure {fig} -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # MNIST folder; default: $CGH_DATA, then torchvision download
device = "auto"            # auto | cpu | cuda
estimator = None           # None: as the profile, exact below the paper profile, paper at it
noise_levels = [0.25, 0.5, 0.75]
overrides = {{}}             # any LossReductionConfig field, e.g. {{"steps": 2000, "stat_examples": 400}}
seeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)
'''

LR_RUN = '''
import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims, plotting
from cgh_lib.papers.cg2020 import figs23_loss_reduction as loss_reduction
from cgh_lib.papers.cg2020 import plots as plots_cg2020
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs

over = dict(overrides, **({"estimator": estimator} if estimator else {}))
seeds = list(seeds or default_seeds(profile))
opts = RunOptions(data_root=data_root, device=device)
by_seed = {s: dict(zip(noise_levels, ensure_runs(loss_reduction.figure_configs(profile, noise_levels,
                                                                              {**over, "seed": s}), opts)))
           for s in seeds}
runs = plotting.by_key(by_seed)  # noise -> [run of each seed]
c0 = loss_reduction.figure_configs(profile, noise_levels, over)[0]
sample = "all" if c0.stat_examples == 0 else f"{c0.stat_examples:,}"
est = (f"exact statistic: all weights, {sample} sampled training examples" if c0.estimator == "exact" else
       f"paper's estimator: {sample} sampled examples x {c0.stat_weights} weights per weight matrix")
display(Markdown(f"**profile: {profile}** ({c0.dataset}, {c0.n_train:,} training examples, {c0.steps:,} steps, "
                 f"hidden {c0.hidden}, noise scheme `{c0.noise_scheme}`; {est}; {c0.n_null} null worlds; seeds "
                 f"{', '.join(map(str, seeds))}). Run store: `{runs[noise_levels[0]][0].path.parent}`."))
'''

FIG2_INTRO = '''
# CG2020 Figure 2 — paper: MLP 784-2048-10 on full MNIST, 10^5 steps; shown below the paper profile: the same MLP on 22,699 MNIST images, 3,000 steps

*Chatterjee, "Coherent Gradients", ICLR 2020, §2.4.* The Figure 1 setup (MLP
784-2048-10, Xavier init, SGD lr 0.1, batch 100) on MNIST with 25, 50 and 75% label
noise. With $g_t$ the summed gradient of a fixed sample of training examples at step $t$,
and $g^p_t$ / $g^c_t$ the sums over its pristine / corrupt part,

$$f^p_t = \\frac{\\langle g_t, g^p_t \\rangle}{\\langle g_t, g_t \\rangle}, \\qquad
f^c_t = \\frac{\\langle g_t, g^c_t \\rangle}{\\langle g_t, g_t \\rangle} = 1 - f^p_t$$

split the first-order loss reduction of a gradient step between the two groups (the
cross terms $\\langle g^p_t, g^c_t \\rangle$ are shared equally). The rows below the first are *null
worlds*: the same runs with the pristine/corrupt designations randomly permuted among
the sampled examples.

**The paper's claim.** Pristine examples, being similar to each other, have the
stronger gradient early: at 25% and 50% noise f^p starts above f^c and the curves
cross once the pristine examples are fitted; at 75% there is no crossover but f^p
slopes down. In the null worlds the curves do not cross; there the larger group
simply dominates.

**Estimators.** The paper used 400 sampled examples and 600 sampled weights (300 per
layer), `estimator="paper"`. `estimator="exact"` uses every weight of the network over
a larger sample of examples, computed from gradient sums (no pairwise products);
it is the default below the paper profile.
'''

FIG2_TEXT = '''
## What we see

*Scale.* The **small** profile trains the paper's network on the first 22,699 real MNIST
images for 3,000 steps (a CPU) and measures f_p exactly (all weights) over 5,000 sampled
examples; the **paper** profile (full MNIST, 10^5 steps, the paper's 400 x 600 estimator) is
for a GPU; the **smoke** profile (generated data, 200 steps) only exercises the code.

*Caveats.* A crossover is counted only when f_p stays below 0.5 for 3 evaluations in a row
(or to the end of training): a single evaluation below 0.5 is within the wobble of the
sampled statistic. A null world's f_p hovers near the share of its sample that it calls
pristine (the same group sizes as the real split, chosen at random), so whether it crosses
0.5 is largely decided by the group sizes; the null row is read only when the real run does cross (its
precondition). f_p can exceed 1 (the corrupt share is then negative): the y axis shows the
whole range. The paper's 400 x 600 estimator on the same training runs (`-p estimator=paper
-p overrides='{"stat_examples": 400}'`) is much noisier than the exact statistic.
'''

FIG2_CHOICES = MLP_CHOICES + [
    ("statistic", '"a sample of 400 per-example gradients for 600 weights (300 from each layer)"',
     "that, at the paper profile; below it all weights over a larger example sample (`estimator='exact'`)"),
    ("measurement steps", "not stated", "steps 0-10 and the evaluation schedule"),
    ("'cross over'", "not quantified", "f_p below 0.5 for 3 consecutive evaluations (or to the end)"),
    ("null worlds", '"3 simulations under the null"', "3 random permutations of the designations within the "
     "sample"),
]

FIG3_INTRO = '''
# CG2020 Figure 3 — paper: MLP 784-2048-10 on full MNIST; shown below the paper profile: the same MLP on 22,699 MNIST images, 3,000 steps

*Chatterjee, "Coherent Gradients", ICLR 2020, §2.4.* Same runs as Figure 2 (stored
once, shared). To adjust for the different sizes of the two groups, the paper looks
at the mean cumulative contribution of one pristine / one corrupt example to the loss
reduction over the first steps,

$$i^p_t = \\frac{1}{|p|} \\sum_{t' \\le t} \\langle g_{t'}, g^p_{t'} \\rangle, \\qquad
i^c_t = \\frac{1}{|c|} \\sum_{t' \\le t} \\langle g_{t'}, g^c_{t'} \\rangle$$

(up to the learning rate, to first order), for $t = 0, \\dots, 10$, with $|p|$, $|c|$ the group
sizes within the sample. Rows below the first are null worlds (designations
permuted among the sampled examples).

**The paper's claim.** In the actual runs i^p grows faster than i^c at every noise
level, including 75% where Figure 2 showed no crossover; in the null worlds the two
are about equal. The paper calls its result "somewhat significant but not
overwhelmingly so" and suggests redoing it on all examples and parameters:
`estimator="exact"` (our default below the paper profile) does that for all
parameters and a large sample of examples.
'''

FIG3_TEXT = '''
## What we see

*Scale and statistic.* Same runs as Figure 2. The number to read is the relative gap
(i_p - i_c)/(|i_p| + |i_c|) after 10 steps, real vs null designations. The exact statistic
(all weights, 5,000 examples at the small profile) is what the paper suggested ("It would be
interesting to redo this on the entire population of examples and trainable parameters");
the paper's own estimator on the same training runs is `-p estimator=paper
-p overrides='{"stat_examples": 400}'`. The smoke profile only exercises the code.
'''

# --------------------------------------------------------------------------- Figure 4
FIG4_INTRO = '''
# CG2020 Figure 4 — paper: MLP 784-256x3-10 on full MNIST, 60,000 steps; shown below the paper profile: 784-64x3-10 on 3,000 MNIST images, 1,000 steps

*Chatterjee, "Coherent Gradients", ICLR 2020, §3.* An MLP 784-256-256-256-10 (paper)
is trained with SGD (lr 0.1, batch 100) on MNIST with 0-100% label noise, but each
weight is updated with the *c-winsorized* sum of its per-example gradients in the
minibatch: the c largest and c smallest values are clipped to the (c+1)-th extremes,
independently per weight (c = 0 is plain SGD). *ta* = training accuracy on the noisy
labels, *va* = test accuracy, *overfit* = ta - [e/10 + (1-e) va], e the noise level
(test labels are clean). The dashed line is the *proper accuracy* of the noisy
training set, the fraction of examples whose label is still correct.

**The paper's claims (§3.2-3.3).** Winsorizing keeps only updates that many examples
agree on, so (1) for c > 1 training accuracy does not exceed the proper accuracy
(the network cannot memorize corrupt labels); (2) the larger c, the more slowly the
overfit grows; (3) larger c also makes the training data harder to fit; and with heavy
winsorization the accuracies reach a maximum and then go down.
'''

FIG4_PARAMS = '''
# Parameters (papermill / `cgh figure cg2020-fig4 -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # MNIST folder; default: $CGH_DATA, then torchvision download
device = "auto"            # auto | cpu | cuda
noise_levels = None        # None: the grid of the profile, 0 .25 .5 .75 1, smoke 0 .5 1
c_levels = None            # None: the grid of the profile, 0 1 2 4 8, smoke 0 2 8
overrides = {}             # any WinsorizedConfig field, e.g. {"steps": 3000, "hidden": (256, 256, 256)}
seeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)
'''

FIG4_RUN = '''
import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims, plotting
from cgh_lib.papers.cg2020 import fig4_winsorized as winsorized
from cgh_lib.papers.cg2020 import plots as plots_cg2020
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs

seeds = list(seeds or default_seeds(profile))
opts = RunOptions(data_root=data_root, device=device)
by_seed = {}
for s in seeds:
    cfgs = winsorized.grid_configs(profile, noise_levels, c_levels, {**overrides, "seed": s})
    by_seed[s] = winsorized.as_grid(cfgs, ensure_runs(cfgs, opts))
grid = plotting.by_key(by_seed)  # (c, noise) -> [run of each seed]
configs = winsorized.grid_configs(profile, noise_levels, c_levels, overrides)
c0 = configs[0]
display(Markdown(f"**profile: {profile}** ({c0.dataset}, {c0.n_train:,} training examples, {c0.steps:,} steps, "
                 f"MLP 784-{'-'.join(map(str, c0.hidden))}-10, batch {c0.batch_size}, lr {c0.lr}, noise scheme "
                 f"`{c0.noise_scheme}`; grid: noise {sorted({c.noise for c in configs})} x c "
                 f"{sorted({c.c for c in configs})}; seeds {', '.join(map(str, seeds))}). "
                 f"Run store: `{next(iter(grid.values()))[0].path.parent}`."))
'''

FIG4_TEXT = '''
## What we see

*Scale.* The **paper** profile (full MNIST, 784-256x3-10, 60,000 steps = 100 epochs) needs a
GPU: per-example gradients make a winsorized step much dearer than an SGD step. The
**small** profile is what a 2-core CPU does in about 15-20 minutes per seed for the 25
cells: the first 3,000 real MNIST images, a 784-64x3-10 net and 1,000 steps (33 epochs). The
**smoke** profile (generated data, a 3x3 sub-grid, 150 steps, lr 0.05) checks the code path;
its numbers are not evidence.

*Caveats.* Winsorization acts on each mini-batch of 100, whatever the size of the dataset:
c = 2 clips the same 2 of 100 values per coordinate at either scale. What differs at the
small profile is the number of passes (33 epochs of 3,000 images vs 100 of 60,000: each
example is seen *less* often here, not more) and the width of the network (64 vs 256 units
per layer). Which of these, if either, explains a difference from the paper only the paper
profile can say. "Overfit" subtracts what a network knowing only the true rule would score on
the noisy labels; "proper accuracy" is the pristine fraction of the noisy training set.
'''

FIG4_CHOICES = [MLP_CHOICES[0], *MLP_CHOICES[2:], (
    "winsorization", '"Since we have 100 examples in each minibatch, the value of c immediately tells us how many '
    'outliers are clipped in each minibatch"', "the c smallest and c largest of the 100 per-example values of "
    "each weight are clipped to the (c+1)-th extremes"), (
    "'peak then fall'", "read off the curves", "final accuracy more than 1 point below its peak, at the largest c")]

EXPLORE = '''
from cgh_lib.book.explorer import explore_figure
explore_figure("{fig}", profile, {var}, {controls})
'''

STAMP = "plotting.stamp(fig, plotting.run_stamp(profile, [r for rs in {v}.values() for r in rs]))"


def page(intro, params, run, plot, fig, over, claims_extra, text, choices, extra_cells=(), explore=None):
    """A figure page: intro, parameters, runs, figure, explorer, claims, extra cells, What we see, outcomes."""
    return [
        ("md", intro),
        ("params", params),
        ("code", run),
        ("code", plot),
        *([("code", explore)] if explore else []),
        ("md", CLAIMS_MD.format(fig=fig, extra=claims_extra)),
        ("code", CLAIMS.format(fig=fig, over=over)),
        *extra_cells,
        ("md", text + "\n" + choices_md(choices)),
        ("code", OUTCOMES.format(fig=fig, over=over)),
    ]


def _explore(fig, var, controls):
    """The explorer cell: one view per stored run of every seed and profile (see `explore_figure`)."""
    return EXPLORE.format(fig=fig, var=var, controls=controls)


def main() -> None:
    nb = ROOT / "notebooks"
    write(nb / "cg2020_fig1_label_noise.ipynb", page(
        FIG1_INTRO, FIG1_PARAMS, FIG1_RUN,
        'fig = plots.figure1(runs, f"CG2020 Figure 1 reproduced (profile: {profile})")\n' + STAMP.format(v="runs"),
        "cg2020-fig1", "overrides", '"Learned" = classified as its (possibly noisy) training label.',
        FIG1_TEXT, FIG1_CHOICES, [("code", FIG1_FINAL)], _explore("cg2020-fig1", "runs", '["noise"]')))
    write(nb / "cg2020_fig2_loss_reduction.ipynb", page(
        FIG2_INTRO, LR_PARAMS.format(fig="cg2020-fig2"), LR_RUN,
        'fig = plots_cg2020.figure2(runs, f"CG2020 Figure 2 reproduced (profile: {profile})")\n'
        + STAMP.format(v="runs"), "cg2020-fig2", "over",
        "f_p is measured at the evaluation steps shown on the x axis.", FIG2_TEXT, FIG2_CHOICES,
        explore=_explore("cg2020-fig2", "runs", '["noise"]')))
    write(nb / "cg2020_fig3_contributions.ipynb", page(
        FIG3_INTRO, LR_PARAMS.format(fig="cg2020-fig3"), LR_RUN,
        'fig = plots_cg2020.figure3(runs, f"CG2020 Figure 3 reproduced (profile: {profile})")\n'
        + STAMP.format(v="runs"), "cg2020-fig3", "over",
        "Figure 2's rows, from the same runs, are on its page.", FIG3_TEXT, FIG2_CHOICES,
        explore=_explore("cg2020-fig3", "runs", '["noise"]')))
    write(nb / "cg2020_fig4_winsorized.ipynb", page(
        FIG4_INTRO, FIG4_PARAMS, FIG4_RUN,
        '# one image per row of the paper\'s grid (one value of c), legible at page width\n'
        'fig = plots_cg2020.figure4(grid, f"CG2020 Figure 4 reproduced (profile: {profile})")\n'
        + STAMP.format(v="grid"), "cg2020-fig4", "overrides",
        "Proper accuracy = the pristine fraction of the noisy training set.", FIG4_TEXT, FIG4_CHOICES,
        [("code", "winsorized.summary_table({k: rs[0] for k, rs in grid.items()})  # final values, first seed")],
        explore=_explore("cg2020-fig4", "grid", '["c", "noise"]')))


if __name__ == "__main__":
    main()
