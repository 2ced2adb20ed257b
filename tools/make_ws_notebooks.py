"""Write the WS figure notebooks (no outputs): `python tools/make_ws_notebooks.py` from the repo root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbwrite import write  # noqa: E402

PARAMS = '''# Parameters (papermill / `cgh figure {fig} -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # small: ../shared/data (Fashion-MNIST); paper: {paper_data}
device = "auto"            # auto | cpu | cuda (multi-GPU: run the configs with torchrun first, see README)
overrides = {{}}             # any {cls} field, e.g. {{"epochs": 30}}'''

SETUP = '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.papers.ws import experiments as ws
from cgh_lib.papers.ws import plots as ws_plotting

runs = ws.figure_runs("{fig}", profile, data_root, device, overrides)
display(Markdown(ws.profile_line("{fig}", profile, runs)))'''

CLAIMS_MD = '''## The paper's claims, checked on the runs above

Each row is computed from the stored runs in the figure; "holds" is the outcome of the
stated comparison, not a judgement. Accuracies are fractions; "final" = last evaluation.'''

SCALE_MD = '''The **paper** profile reproduces the paper's settings (GPUs; {paper_data}). The
**small** profile trains a small CNN on 1,000-6,000 real Fashion-MNIST images (the
profile line above gives the numbers) on a CPU in minutes: a stand-in that can show the qualitative effects but not the paper's
numbers. The **smoke** profile uses a generated dataset and a few dozen steps: it
exercises the code, and its numbers are not evidence either way.'''

IMAGENET = "an ImageNet folder with train/ and val/ (or set CGH_IMAGENET)"
CIFAR = "the folder holding cifar-10-batches-py (or set CGH_DATA)"


def figure_cells(fig, cls, paper_data, var, key, plot, claims, extra=""):
    """The cells every WS notebook shares after its intro: parameters, runs, the figure
    (``plot`` = ws_plotting call), the claims table (``claims`` = ws function), the summary."""
    data = {"ImageNet": IMAGENET, "CIFAR-10": CIFAR}[paper_data]
    return [
        ("params", PARAMS.format(fig=fig, paper_data=data, cls=cls)),
        ("code", SETUP.format(fig=fig)),
        ("code", f"""{var} = {{{key}: r for (agg, n, c), r in runs.items()}}
fig = ws_plotting.{plot}
ws_plotting.stamp(fig, ws_plotting.ws_stamp(profile, list({var}.values())))"""),
        ("code", """from cgh_lib.book.explorer import explore
explore(runs, ["aggregator", "noise", "s"], title="Explore one run: its curves and final numbers")"""),
        ("md", CLAIMS_MD),
        ("code", f"""pd.set_option("display.max_colwidth", None)
display(pd.DataFrame(ws.{claims}({var})).style.hide(axis="index"))
ws_plotting.finals_table({var})"""),
        ("md", "## What we see\n\nRead the table above for this profile. " + SCALE_MD.format(paper_data=paper_data)
         + extra),
    ]


def label_noise_nb(fig, num, model, sched):
    return [
        ("md", f'''# WS Figure {num}: label noise on ImageNet with {model}

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
                      "label_noise_claims",
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
        ("md", '''# WS Figure 2: suppressing weak gradient directions (RM3, RA3, M3 vs SGD)

*WS paper §3.* ResNet-18 on ImageNet with 0, 50 and 100% label noise, the Figure 1 recipe
but **without momentum**. Besides SGD, three aggregators replace the minibatch gradient:
**RM3**, the coordinate-wise median of the last 3 minibatch gradients; **RA3**, their mean
(the ablation); and **M3**, the median of the mean gradients of 3 equal thirds of one
minibatch (batch 264 at the paper profile, divisible by 3 and by 8 GPUs; the paper does not
say its M3 batch).

**The paper's claims**: RM3 (and M3, even more) gives a smaller generalization gap than SGD
at every noise level and memorizes noisy labels far less, while RA3 behaves like SGD: the
median, not the rolling window, matters (SGD ~ RA3 << RM3 < M3). At 0% noise M3 can be
unstable (larger steps along strong directions).'''),
        *figure_cells("ws-fig2", "WSAggregatorConfig", "ImageNet", "by_agg", "(agg, n)",
                      'aggregator_figure(by_agg, f"WS Figure 2 reproduced (profile: {profile})")',
                      "aggregator_claims"),
    ],
    "notebooks/ws_fig3_pristine_corrupt_aggregators.ipynb": [
        ("md", '''# WS Figure 3: pristine vs corrupt examples under SGD, RA3, M3 and RM3

*WS paper §3.3.* The 50%-noise runs of Figure 2 (ResNet-18, ImageNet, no momentum): the
training accuracy (against the noisy labels) of fixed samples of pristine and of corrupt
examples, one panel per aggregator.

**The paper's claims**: RM3 greatly inhibits the learning of corrupt examples relative to
pristine ones, so weak gradient directions are what memorizes; RA3 behaves like SGD, M3
like RM3 (SGD ~ RA3 << RM3 < M3).'''),
        *figure_cells("ws-fig3", "WSAggregatorConfig", "ImageNet", "by_agg", "agg",
                      'pristine_corrupt_figure(by_agg, f"WS Figure 3 reproduced, 50% noise (profile: {profile})")',
                      "pristine_corrupt_claims"),
    ],
    "notebooks/ws_fig8_winsorization_cifar10.ipynb": [
        ("md", '''# WS Figure 8: winsorized gradients on CIFAR-10 (ResNet-32)

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
                      "winsorize_claims",
                      " The CPU profiles use a BatchNorm-free small CNN instead of ResNet-32 (per-example gradients of "
                      "ResNet-32 take seconds per step on a CPU), so the shared-forward BatchNorm path runs only at the "
                      "paper profile and in the tests."),
    ],
}

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for path, cells in NBS.items():
        write(root / path, cells)
        print("wrote", path)
