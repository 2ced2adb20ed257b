"""Write the WS figure notebooks (no outputs): `python tools/make_ws_notebooks.py` from the repo root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbwrite import write  # noqa: E402

PARAMS = '''# Parameters (papermill / `cgh figure {fig} -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # small: ../shared/data (Fashion-MNIST); paper: {paper_data}
device = "auto"            # auto | cpu | cuda (multi-GPU: run the configs with torchrun first, see README)
overrides = {{}}             # any {cls} field, e.g. {{"epochs": 30}}
seeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)'''

SETUP = '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims
from cgh_lib.book.plotting import by_key
from cgh_lib.papers.ws import experiments as ws
from cgh_lib.papers.ws import plots as ws_plotting
from cgh_lib.store.experiments import default_seeds

seeds = list(seeds or default_seeds(profile))
runs_by_seed = {{s: ws.figure_runs("{fig}", profile, data_root, device, {{**overrides, "seed": s}}) for s in seeds}}
runs = by_key(runs_by_seed)  # key -> [run of each seed]
display(Markdown(ws.profile_line("{fig}", profile, runs_by_seed[seeds[0]]) + f" | seeds: {{', '.join(map(str, seeds))}}"))'''

CLAIMS_MD = '''## The paper's claims, checked on the runs above

Each row quotes the sentence it tests and is computed per seed from the stored runs in the
figure (`cgh claims {fig} --profile <profile>` prints the same table): *holds* / *fails* when
every seed agrees, *mixed k/n* when k of n seeds hold, *n/a* when the precondition that gives
the comparison its meaning fails (the reason says what was measured), *missing* when runs are
not stored. Accuracies are fractions; "final" = last evaluation; the table below it gives the
final metrics, averaged over seeds.'''

SCALE_MD = '''The **paper** profile reproduces the paper's settings (GPUs; {paper_data}). The
**small** profile trains a small CNN on 1,000-6,000 real Fashion-MNIST images (the
profile line above gives the numbers) on a CPU in minutes: a stand-in that can show the qualitative effects but not the paper's
numbers. The **smoke** profile uses a generated dataset and a few dozen steps: it
exercises the code, and its numbers are not evidence either way.'''

IMAGENET = "an ImageNet folder with train/ and val/ (or set CGH_IMAGENET)"
CIFAR = "the folder holding cifar-10-batches-py (or set CGH_DATA)"


def figure_cells(fig, cls, paper_data, var, key, plot, choices, extra=""):
    """The cells every WS notebook shares after its intro: parameters, runs (every seed), the figure
    (``plot`` = ws_plotting call), the claims table, the final metrics, and "What we see": scale and
    caveats (``extra``), the choices the code makes (``choices``), the generated outcomes."""
    data = {"ImageNet": IMAGENET, "CIFAR-10": CIFAR}[paper_data]
    return [
        ("params", PARAMS.format(fig=fig, paper_data=data, cls=cls)),
        ("code", SETUP.format(fig=fig)),
        ("code", f"""{var} = {{{key}: rs for (agg, n, c), rs in runs.items()}}
fig = ws_plotting.{plot}
ws_plotting.stamp(fig, ws_plotting.ws_stamp(profile, [r for rs in {var}.values() for r in rs]))"""),
        ("code", f"""from cgh_lib.book.explorer import explore_figure
explore_figure("{fig}", profile, runs_by_seed, ["aggregator", "noise", ("s", "c")])"""),
        ("md", CLAIMS_MD.format(fig=fig)),
        ("code", f"""pd.set_option("display.max_colwidth", None)
display(claims.claims_table("{fig}", profile, overrides, seeds))
ws_plotting.finals_table({var})"""),
        ("md", "## What we see\n\n" + SCALE_MD.format(paper_data=paper_data) + extra + "\n\n" + choices),
        ("code", f'display(Markdown(claims.outcomes_markdown("{fig}", profile, overrides, seeds)))'),
    ]


def choices_md(rows):
    """The choices the code makes that the paper leaves open (or states differently)."""
    return "**Choices the code makes** (the paper's wording, where it has one → what the code does):\n\n" + "\n".join(
        f"- *{what}*: {paper} → {ours}" for what, paper, ours in rows)


COMMON_CHOICES = [
    ("seeds", "not stated", "3 seeds at the small profile (0, 1, 2), 1 at smoke and paper; a seed sets the "
     "model init, the label-noise draw, the tracking samples and the batch order"),
    ("initialization", "not stated (TorchVision models)", "the model's PyTorch / TorchVision default init"),
    ("label noise", '"We randomize 0%, 25%, 50%, 75%, and 100% of the training labels"', "as the authors' "
     "code: each example, with that probability, gets a uniformly random class (which may equal its own); "
     "*corrupt* = label changed"),
]
LN_CHOICES = COMMON_CHOICES + [
    ("tracking samples", '"We keep a fixed sample of 50k examples from the pristine and corrupt sets"',
     "50k each at the paper profile; 1,000 each at small"),
    ("learning speed", "read off the curves", "the mean of an accuracy curve over the run's evaluations "
     "(a normalized area under it)"),
]
AGG_CHOICES = COMMON_CHOICES + [
    ("momentum", '"Unless otherwise specified, we use a mini-batch size of 256 and no momentum."', "no momentum"),
    ("M3 batch", '"We ran M3 with a batch size of 264 (i.e., micro-batch size of 88) instead of 256" (footnote 2)',
     "264 at the paper profile; below it the profile's batch rounded up to a multiple of 3 (small: 129)"),
    ("RM3 / RA3 first steps", "not stated", "until 3 gradients exist, the mean of those available"),
    ("small-profile length", "90 epochs of ImageNet", "1,000 Fashion-MNIST images for 150 epochs (lr 0.2, x0.1 "
     "at epoch 100), chosen so that plain SGD memorizes noisy labels on a CPU; with 6,000 images x 15 epochs it "
     "never did and the suppression claims could not be tested"),
]


def label_noise_nb(fig, num, model, sched):
    return [
        ("md", f'''# WS Figure {num} — paper: {model} on ImageNet; shown below the paper profile: a small CNN on Fashion-MNIST

*Zielinski, Chatterjee et al., "Weak and strong gradient directions: explaining memorization,
generalization, and hardness of examples at scale", {"§2" if num == 1 else "Appendix A"}.* {model} is trained on ImageNet
without augmentation or weight decay, batch 256, momentum 0.9, lr 0.1 ({sched}), on
training labels of which 0, 25, 50, 75 or 100% are randomized (each example, with that
probability, gets a uniformly random class, as in the authors' code). Examples whose label
survived are *pristine*, the others *corrupt*; fixed samples of each (50k in the paper) are
evaluated after every epoch.

**The paper's claims** (Coherent Gradients): as noise rises, examples are learned more
slowly; pristine examples are learned faster than corrupt ones; with fewer pristine
examples, they are learned more slowly. The paper reports that all three hold for {model}.'''),
        *figure_cells(fig, "WSConfig", "ImageNet", "by_noise", "n",
                      f'label_noise_figure(by_noise, f"WS Figure {num} reproduced (profile: {{profile}})")',
                      choices_md(LN_CHOICES + ([("auxiliary logits", '"The Inception model did not use auxiliary '
                                                 'logits."', "none (paper profile)")] if num == 6 else [])
                                 + ([("early stop", '"To save compute we stopped VGG training early (when training '
                                      'accuracy reached 100%)."', "the full schedule")] if num == 7 else [])),
                      "" if num == 1 else f" At the CPU profiles this figure cannot use {model}: it keeps the small CNN "
                      "and takes the paper's cosine schedule instead, so it differs from Figure 1 only in schedule"
                      + (" and width." if num == 7 else ".") + (" The paper stopped VGG-13 early once training "
                      "accuracy reached 100%; we train the full schedule." if num == 7 else "")),
    ]


NBS = {
    "notebooks/ws_fig1_label_noise_resnet18.ipynb": label_noise_nb("ws-fig1", 1, "ResNet-18", "x0.1 at epochs 30 and 60 of 90"),
    "notebooks/ws_fig6_label_noise_inception.ipynb": label_noise_nb("ws-fig6", 6, "Inception-V3", "cosine annealing"),
    "notebooks/ws_fig7_label_noise_vgg13.ipynb": label_noise_nb("ws-fig7", 7, "VGG-13", "cosine annealing"),
    "notebooks/ws_fig2_rm3_ra3_m3.ipynb": [
        ("md", '''# WS Figure 2 — paper: RM3, RA3, M3 vs SGD, ResNet-18 on ImageNet; shown below the paper profile: a small CNN on Fashion-MNIST

*WS paper §3.* ResNet-18 on ImageNet with 0, 50 and 100% label noise, the Figure 1 recipe
but **without momentum**. Besides SGD, three aggregators replace the minibatch gradient:
**RM3**, the coordinate-wise median of the last 3 minibatch gradients; **RA3**, their mean
(the ablation); and **M3**, the median of the mean gradients of 3 equal thirds of one
minibatch (batch 264 at the paper profile, as the paper's footnote 2 states).

**The paper's claims**: RM3 (and M3, even more) gives a smaller generalization gap than SGD
at every noise level and memorizes noisy labels far less, while RA3 behaves like SGD: the
median, not the rolling window, matters (SGD ~ RA3 << RM3 < M3). At 0% noise M3 can be
unstable (larger steps along strong directions).'''),
        *figure_cells("ws-fig2", "WSAggregatorConfig", "ImageNet", "by_agg", "(agg, n)",
                      'aggregator_figure(by_agg, f"WS Figure 2 reproduced (profile: {profile})")',
                      choices_md(AGG_CHOICES)),
    ],
    "notebooks/ws_fig3_pristine_corrupt_aggregators.ipynb": [
        ("md", '''# WS Figure 3 — paper: pristine vs corrupt under SGD, RA3, M3, RM3 (ResNet-18, ImageNet); shown below the paper profile: a small CNN on Fashion-MNIST

*WS paper §3.3.* The 50%-noise runs of Figure 2 (ResNet-18, ImageNet, no momentum): the
training accuracy (against the noisy labels) of fixed samples of pristine and of corrupt
examples, one panel per aggregator.

**The paper's claims**: RM3 greatly inhibits the learning of corrupt examples relative to
pristine ones, so weak gradient directions are what memorizes; RA3 behaves like SGD, M3
like RM3 (SGD ~ RA3 << RM3 < M3).'''),
        *figure_cells("ws-fig3", "WSAggregatorConfig", "ImageNet", "by_agg", "agg",
                      'pristine_corrupt_figure(by_agg, f"WS Figure 3 reproduced, 50% noise (profile: {profile})")',
                      choices_md(AGG_CHOICES + [("'does not learn'", "not quantified", "final corrupt-sample "
                                                 "accuracy within 2 standard errors of chance (1/classes)")])),
    ],
    "notebooks/ws_fig8_winsorization_cifar10.ipynb": [
        ("md", '''# WS Figure 8 — paper: winsorization, ResNet-32 on CIFAR-10; shown below the paper profile: a BatchNorm-free small CNN on Fashion-MNIST

*WS paper Appendix B.* ResNet-32 on CIFAR-10, SGD with batch 32, lr 0.1, x0.1 at 40k steps
and every 20k after, 100k steps, with 0% and 100% label noise. Each coordinate of the 32
per-example gradients is clipped to the (s+1)-th smallest and largest value before
averaging; s = 0 is SGD. With BatchNorm, per-example gradients are taken through one shared
train-mode forward (`cgh_lib.grads.batchnorm`; the paper does not say how it handled BatchNorm).

**The paper's claims**: as s grows the train-test gap shrinks, with little change in test
accuracy for small s; at 100% noise SGD (s = 0) memorizes the training set while s = 2 or 4
fails to learn it.'''),
        *figure_cells("ws-fig8", "WSWinsorizeConfig", "CIFAR-10", "by_c", "(c, n)",
                      'winsorize_figure(by_c, f"WS Figure 8 reproduced (profile: {profile})")',
                      choices_md(COMMON_CHOICES + [
                          ("momentum", '"We train a ResNet-32 on CIFAR-10 using SGD with a batch size of 32."',
                           "plain SGD, no momentum"),
                          ("BatchNorm under winsorization", "not stated", "per-example gradients through one "
                           "shared train-mode forward of the batch (`cgh_lib.grads.batchnorm`), paper profile only"),
                          ("small-profile scale", "100K steps on 50,000 CIFAR-10 images", "2,000 steps on 2,000 "
                           "Fashion-MNIST images (x0.1 at 1,200 then every 400)")]),
                      " The CPU profiles use a BatchNorm-free small CNN instead of ResNet-32 (per-example gradients of "
                      "ResNet-32 take seconds per step on a CPU), so the shared-forward BatchNorm path runs only at the "
                      "paper profile and in the tests."),
    ],
}

RM3_BATCH_SETUP = '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book import claims
from cgh_lib.book.plotting import by_key
from cgh_lib.papers.ws import experiments as ws
from cgh_lib.papers.ws import plots as ws_plotting
from cgh_lib.store.experiments import RunOptions, default_seeds, ensure_runs

seeds = list(seeds or default_seeds(profile))
opts = RunOptions(data_root=data_root, device=device, progress=False)
runs_by_seed = {}
for s in seeds:
    cfgs = ws.rm3_batch_configs(profile, {**overrides, "seed": s}, batches)
    runs_by_seed[s] = dict(zip(cfgs, ensure_runs(list(cfgs.values()), opts)))
runs = by_key(runs_by_seed)  # (aggregator, batch) -> [run of each seed]
first = runs_by_seed[seeds[0]]
display(Markdown(ws.profile_line("ws-fig3", profile, first) + f" | seeds: {', '.join(map(str, seeds))}"))'''

NBS["notebooks/ws_rm3_batch_size.ipynb"] = [
    ("md", '''# WS §3.3, RM3's mini-batch size — paper: a statement without a figure; shown: SGD, RM3 and M3 at 50% noise on Fashion-MNIST over three batch sizes

*WS paper §3.3:* "Note that mini-batch size for RM3 is important. The larger the mini-batch,
the more it behaves like SGD (as may also be seen by considering the extreme case of full-batch
training)." The paper shows no experiment for this sentence. We test it directly: the Figure 3
setting (50% label noise, no momentum) with SGD, RM3 and M3 at several mini-batch sizes,
plotting the final accuracy on the fixed corrupt sample (memorization) and pristine sample
against the batch size. If the sentence holds, RM3's corrupt accuracy approaches SGD's as the
batch grows.'''),
    ("params", PARAMS.format(fig="ws-rm3-batch", paper_data=IMAGENET, cls="WSAggregatorConfig")
     + "\nbatches = None             # None: the profile's sweep (small: 16, 32, 96; smoke: 6, 12, 24; paper: 128, 256, 512)"),
    ("code", RM3_BATCH_SETUP),
    ("code", '''fig = ws_plotting.rm3_batch_figure(runs, f"RM3 mini-batch sweep (profile: {profile})",
                                   chance=ws.chance_accuracy(first))
ws_plotting.stamp(fig, ws_plotting.ws_stamp(profile, [r for rs in runs.values() for r in rs]))'''),
    ("code", """from cgh_lib.book.explorer import explore_figure
explore_figure("ws-rm3-batch", profile, runs_by_seed, ["aggregator", ("batch", "batch_size")])"""),
    ("md", CLAIMS_MD.format(fig="ws-rm3-batch")),
    ("code", '''pd.set_option("display.max_colwidth", None)
display(claims.claims_table("ws-rm3-batch", profile, overrides, seeds))
ws_plotting.finals_table(runs)'''),
    ("md", "## What we see\n\n" + SCALE_MD.format(paper_data="ImageNet") + " The number of epochs is the "
     "profile's (150 at small), so a smaller batch also means more steps; the learning rate is not rescaled "
     "with the batch." + "\n\n" + choices_md(AGG_CHOICES + [
         ("batch sizes", "not stated", "16, 32, 96 at small (M3: 18, 33, 96, a multiple of 3)"),
         ("'behaves like SGD'", "not quantified", "|RM3 - SGD| final corrupt-sample accuracy, shrinking at each "
          "step to a larger batch")])),
    ("code", 'display(Markdown(claims.outcomes_markdown("ws-rm3-batch", profile, overrides, seeds)))'),
]


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for path, cells in NBS.items():
        write(root / path, cells)
        print("wrote", path)
