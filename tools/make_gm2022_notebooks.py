"""Write the GM2022 figure notebooks (no outputs): `python tools/make_gm2022_notebooks.py` from the repo root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbwrite import write

PARAMS = '''# Parameters (papermill / `cgh figure {fig} -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # {data}
device = "auto"            # auto | cpu | cuda
overrides = {{}}             # {over}'''

CLAIMS_MD = '''## The paper's claims, checked on the runs above

Each row quotes the text it tests (the blog, or the reproduction notes where the claim comes
from the companion paper arXiv 2008.01217 or from our reading of Theorem 1), the statistic, and
the verdict over the seeds: *holds* / *fails* in every seed, *mixed k/n*, or *n/a* when the
precondition (stated in the reason) failed, so the comparison would mean nothing.'''

FIG1 = [
    ("md", r'''# GM2022 §3: the illustrative example, and what coherence means

*Chatterjee & Zielinski, "On the Generalization Mystery in Deep Learning" (2022), §3 "An
Illustrative Example", and the blog post's Figures 1-2.* A linear model $\hat y = w\cdot x$ with
$w\in\mathbb R^6$ and squared loss is trained by full-batch gradient descent from $w = 0$ on 4 of 5
examples $x_i = y_i(e_i + e_6)$, labels $y = (+1,-1,-1,+1,-1)$, and tested on the 5th. In the
**real** dataset coordinate 6 is a feature every example shares (it equals the label); in the
**random** one it is absent, so the examples have nothing in common. Both datasets can be fitted
exactly; the question is which interpolant GD finds.

**Coherence.** For per-example gradients $g_1..g_m$,
$\alpha = \|\sum_i g_i\|^2 / (m \sum_i \|g_i\|^2) \in [0,1]$; pairwise orthogonal gradients give
$\alpha_\perp = 1/m$, and the ratio $\alpha/\alpha_\perp = m\alpha \in [0, m]$ reads as "how many
examples of the sample a step along one example's gradient helps, on average". We measure it with
`cgh_lib.grads.coherence` (two running sums, O(m)).

**What the texts let us check** (derived in the reproduction notes, not quoted from the paper,
whose body we have not seen): at $w=0$ the real gradients are $-(e_i+e_6)$, so $\alpha/\alpha_\perp
= 2.5$ (vs 1 on random data); GD converges to $(0.2, 0.2, 0.2, 0.2, 0, 0.8)$ with test error 0.04 on
real data and to the memorizing $(1,1,1,1,0,0)$ with test error 1.0 on random data.'''),
    ("params", PARAMS.format(fig="gm-fig1", data="not used: this example needs no data",
                             over='e.g. {"lr": 0.5, "steps": 100} (GD on the mean loss)')),
    ("code", '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims
from cgh_lib.book.plotting import stamp
from cgh_lib.papers.gm2022 import example as ex
from cgh_lib.store.provenance import provenance

traces = {k: ex.train_gd(k, **overrides) for k in ex.DATASETS}
p = provenance("cpu")
display(Markdown(f"**profile: {profile}** (the same at every profile: an exact 6-weight computation, "
                 f"no data, no run store) | GD lr {overrides.get('lr', 0.5)}, {overrides.get('steps', 100)} steps"))'''),
    ("code", '''fig = ex.example_figure(traces, f"GM2022 §3 example reproduced (profile: {profile})")
stamp(fig, f"profile: {profile} | exact GD on the §3 example, float64 | commit {(p.get('commit') or '?')[:10]}")'''),
    ("md", CLAIMS_MD),
    ("code", '''pd.set_option("display.max_colwidth", None)
display(pd.DataFrame(ex.example_rows(traces)).style.hide(axis="index"))
display(claims.claims_table("gm-fig1", profile))'''),
    ("md", r'''## The idea, interactively (blog Figures 1-2)

$k$ examples whose gradients are $g_j = s\,u + i\,e_j$: a shared direction $u$ (the part that
generalizes) and one idiosyncratic direction each. The GD step is their average: the shared part
survives it whole, each idiosyncratic part is divided by $k$. Hence
$\alpha/\alpha_\perp = (k s^2 + i^2)/(s^2 + i^2)$: 1 when nothing is shared (brute-force
memorization: each step helps only its own example), $k$ when everything is.

Move the slider (shared part $s$ = slider/10, idiosyncratic $i = 1 - s$). The views are
precomputed and the slider is linked to them in the browser (`jslink`), so this works in the
static book as well as in Jupyter, without a kernel, wherever the page can load the
ipywidgets JavaScript. The static panel below the widget shows three of its states.'''),
    ("code", '''display(ex.interactive_toy())
fig2 = ex.toy_small_multiples(2)'''),
    ("md", '''## What we see

On the real data GD moves the shared weight $w_6$ much faster than the idiosyncratic ones and
ends at the minimum-norm interpolant, which predicts the held-out example nearly right; on the
random data $w_6$ never moves, every example is fitted by its own weight, and the held-out example
is predicted as 0. The gradients of the 4 real examples have $\\alpha/\\alpha_\\perp = 2.5$ all
along (the residuals stay equal by symmetry, so the gradients only shrink), against exactly 1 for
the random ones. The table above gives the measured values.'''),
]

FIG3 = [
    ("md", r'''# GM2022: coherence during training, real vs random labels

*GM2022 blog Figure 3* (the paper's figure number is not in the texts we have): coherence
$\alpha/\alpha_\perp$ of ResNet-50 on real and on random-label ImageNet, on fixed samples of 50,000
training and 50,000 test images, against training epoch and against training loss. The blog: real
ImageNet shows much higher coherence than random, "each example helping dozens of other examples
in the sample for much of the training", while "each random example helps less than a handful".

**What we run.** Two existing trainers with a measurement hook (no new trainer): the CG2020 MLP
784-2048-10 on MNIST (stacked trainer) and a CNN with the WS machinery (DataLoader trainer), each
on 0% (real) and 100% (random) label noise. At each step of a log schedule the hook computes
`cgh_lib.grads.coherence` (per-example gradients, O(m): two running sums) on a fixed sample of
training examples **with the labels they are trained on** (random ones for 100% noise) and a fixed
sample of test examples with their true labels. (So the random-label run's test curve says how
coherent the *true* labels look to a net trained on random ones; the blog does not say which
labels its random-ImageNet test sample carried, and the real-vs-random claim below uses the train
samples.) **BatchNorm is in eval mode** (running statistics)
during the measurement, because in train mode an example's gradient depends on its batch; the
texts do not say what the paper did. The ratio scales with the sample size $m$ (its range is
$[0, m]$), so compare it with the paper's knowing $m$.

At the **paper** profile the CNN is ResNet-50 on ImageNet with $m$ = 50,000 + 50,000. GM2022's
training recipe is not in the texts: we use the WS Appendix A recipe (batch 256, lr 0.1 ×0.1 at
epochs 30 and 60 of 90, momentum 0.9, no augmentation, no weight decay), and say so. The MLP's
paper profile is CG2020's (full MNIST, 10⁵ steps, lr 0.1, batch 100), with $m$ = 10,000 + 10,000.'''),
    ("params", PARAMS.format(fig="gm-fig3", data="small: ../shared/data (MNIST-22k, Fashion-MNIST); paper: "
                             "ImageNet folder (or set CGH_IMAGENET)",
                             over='per architecture, e.g. {"mlp": {"steps": 3000}, "cnn": {"epochs": 20}}')),
    ("code", '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims
from cgh_lib.papers.gm2022 import experiments as gm
from cgh_lib.papers.gm2022 import plots as gm_plots

by_seed = gm.fig3_runs_by_seed(profile, data_root, device, overrides)
display(Markdown(gm_plots.fig3_profile_line(profile, by_seed)))'''),
    ("code", '''for arch in gm.ARCHS:
    runs = {(n, s): r for s, by in by_seed.items() for (a, n), r in by.items() if a == arch}
    fig = gm_plots.coherence_figure(runs, f"GM2022 blog Fig. 3 reproduced, {arch.upper()} (profile: {profile})")
    gm_plots.stamp(fig, gm_plots.fig3_stamp(profile, by_seed, arch))
    fig = gm_plots.layer_figure(runs, f"Per-layer coherence, {arch.upper()}: first, middle, last layer")
    gm_plots.stamp(fig, gm_plots.fig3_stamp(profile, by_seed, arch))'''),
    ("code", '''from cgh_lib.book.explorer import explore_figure
explore_figure("gm-fig3", profile, by_seed, [("architecture", "experiment", gm.ARCH_NAMES), "noise"])'''),
    ("md", r'''## Theorem 1 on this page

**In words.** If the per-example gradients are coherent along the whole run, replacing one
training example by another changes the trained weights little (GD is *stable*), and a stable
algorithm's expected generalization gap is small. **In symbols** (as the secondary sources state
it): for $T$ steps of (S)GD with step sizes $\eta_t$ on $m$ examples, with $L$-Lipschitz,
$\beta$-smooth per-example losses,

$$|\mathrm{gap}(\mathcal D, m)| \le \frac{L^2}{m}\sum_{t=1}^{T}\Big[\prod_{k=t+1}^{T}(1+\eta_k\beta)\Big]\,\eta_t\,\sqrt{2\,(1-\alpha(w_{t-1}))},$$

where $\alpha(w)$ is the coherence of the per-example gradients under the data distribution at $w$.
Below, its **coherence term** $\sum_t \eta_t \sqrt{2(1-\alpha_t)}$ is computed from the measured
train-sample $\alpha$ (held constant between the log-schedule measurements; the factor
$L^2/m$ and the amplification $\prod(1+\eta_k\beta)$ are left out: $\beta$ is not measured) and
from the test-sample $\alpha$, next to the measured gaps. Note what it can and cannot do: with
$m$ in the thousands, $\alpha = $ ratio$/m$ is small on both datasets, so $\sqrt{2(1-\alpha)}$ is
close to $\sqrt 2$ for both, and the term barely separates real from random even when the
gaps differ enormously.'''),
    ("code", '''pd.set_option("display.max_colwidth", None)
for arch in gm.ARCHS:
    runs = {(n, s): r for s, by in by_seed.items() for (a, n), r in by.items() if a == arch}
    display(Markdown(f"**{arch.upper()}**"))
    display(gm_plots.theorem1_table(runs).style.hide(axis="index"))'''),
    ("md", CLAIMS_MD),
    ("code", '''display(claims.claims_table("gm-fig3", profile, overrides))
display(Markdown("\\n".join("- " + s for s in claims.outcome_sentences(claims.evaluate_figure("gm-fig3", profile, overrides)))))'''),
    ("md", '''## What we see

Read the figures and the table for this profile. The **paper** profile (ResNet-50, ImageNet,
m = 50,000) is configured but has not been run here (it needs GPUs; the benchmark projects the cost
of one measurement). The **small** profile runs on a CPU with m = 2,000 (MLP) and m = 1,000 (CNN) per sample, so
"dozens" is to be read against a maximum of m, not 50,000; both architectures run the
profile's three seeds. The
**smoke** profile uses generated data and a few hundred steps: it exercises the code, and its
numbers are not evidence either way.'''),
]

FIG4 = [
    ("md", '''# GM2022: M3 vs SGD at 50% label noise

*GM2022 blog Figure 4*: a ResNet-50 trained on ImageNet where 50% of the training labels are
corrupted; plain SGD fits both the pristine and the corrupt examples, while M3 (each step is the
coordinate-wise median of the mean gradients of 3 micro-batches) fits only the pristine ones. The
blog gives no recipe. Our **paper** profile is the WS experiment `ws-aggregators` with
`model=resnet50`: ImageNet, 50% noise, SGD vs M3, the WS §3 recipe (batch 256, M3 batch 264,
lr 0.1 ×0.1 at epochs 30 and 60 of 90, **no momentum**, no augmentation or weight decay; fixed
samples of pristine and corrupt training examples tracked each epoch). The **small** and
**smoke** profiles **reuse the WS Figure 3 runs** (a small CNN on 1,000 Fashion-MNIST images for
150 epochs at the small profile): no new training, the same stored runs as that page.'''),
    ("params", PARAMS.format(fig="gm-fig4", data="small: ../shared/data (Fashion-MNIST); paper: ImageNet folder "
                             "(or set CGH_IMAGENET)", over='any WSAggregatorConfig field, e.g. {"epochs": 30}')
     + "\nseeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)"),
    ("code", '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims
from cgh_lib.papers.gm2022 import experiments as gm
from cgh_lib.papers.ws import experiments as ws
from cgh_lib.papers.ws import plots as ws_plots

runs = gm.fig4_runs(profile, data_root, device, overrides, seeds)  # aggregator -> [run of each seed]
seeds = sorted({r.config["seed"] for rs in runs.values() for r in rs})
display(Markdown(ws.profile_line("ws-fig3", profile, {a: rs[0] for a, rs in runs.items()})
                 + f" | seeds: {', '.join(map(str, seeds))}"))'''),
    ("code", '''fig = ws_plots.pristine_corrupt_figure(runs, f"GM2022 blog Fig. 4 reproduced, 50% noise (profile: {profile})")
ws_plots.stamp(fig, ws_plots.ws_stamp(profile, [r for rs in runs.values() for r in rs]))'''),
    ("code", '''from cgh_lib.book.explorer import explore_figure
explore_figure("gm-fig4", profile, runs, ["aggregator"])'''),
    ("md", CLAIMS_MD),
    ("code", '''pd.set_option("display.max_colwidth", None)
display(claims.claims_table("gm-fig4", profile, overrides, seeds))
ws_plots.finals_table(runs)'''),
    ("md", '''## What we see

Read the table for this profile. At the small profile these are the WS Figure 3 runs, at the
seeds stored for that page (the line under the figure says which), so the verdict is the same
evidence as that page's, seen through the blog's sentence. The paper
profile (ResNet-50) is configured but not run here.'''),
]

NBS = {
    "notebooks/gm_fig1_illustrative_example.ipynb": FIG1,
    "notebooks/gm_fig3_coherence_real_random.ipynb": FIG3,
    "notebooks/gm_fig4_m3_vs_sgd.ipynb": FIG4,
}

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for path, cells in NBS.items():
        write(root / path, cells)
        print("wrote", path)
