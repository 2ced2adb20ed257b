"""Write the WS §4 notebooks (Figure 4, Figure 5(a), the §4.4 table), without outputs:
`python tools/make_ws_easy_hard_notebooks.py` from the repo root."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.nbwrite import write  # noqa: E402

PARAMS = '''# Parameters (papermill / `cgh figure {fig} -p key=value`)
profile = "smoke"          # smoke | small | paper
data_root = None           # small: ../shared/data (Fashion-MNIST, or set CGH_DATA); paper: an ImageNet folder with train/ and val/ (or set CGH_IMAGENET)
device = "auto"            # auto | cpu | cuda (multi-GPU: run the configs with torchrun first, see README)
overrides = {{}}             # any WSEasyHardConfig field, e.g. {{"epochs": 30}} or {{"cls_lr": 0.01}}
seeds = None               # None: the profile's seeds (small: 0, 1, 2; smoke, paper: 0)'''

SETUP = '''import pandas as pd
from IPython.display import Markdown, display

from cgh_lib.book.plotting import by_key
from cgh_lib.papers.ws import easy_hard as eh
from cgh_lib.papers.ws import easy_hard_plots as ehp

pd.set_option("display.max_colwidth", None)
runs = eh.figure_runs_by_seed("{fig}", profile, data_root, device, overrides, seeds)  # seed -> its runs
seeds = list(runs)
display(Markdown(eh.profile_notes("{fig}", profile, runs)))'''

CLAIMS_MD = '''## The paper's claims, checked on the runs above

Each row quotes WS §4 verbatim and gives the statistic we compute from the stored runs,
the comparison with its margin (and why that margin), the paper's own number where its
text gives one, and the verdict over the seeds: *holds* / *fails* when every seed agrees,
*mixed k/n* when k of n seeds hold. A seed of Figure 4 and §4.4 reruns the classification
to 50% and the three trainings; a seed of Figure 5(a) reruns its RM3 and SGD trainings (its
difficulty always comes from the eight classifications).'''

SCALE_MD = '''## What differs from the paper, and why

The **paper** profile is the paper's setting: ResNet-18 on ImageNet (1.28M training
images), the §2 recipe (batch 256, lr 0.1, x0.1 at epochs 30 and 60 of 90, momentum 0.9,
no augmentation or weight decay), e/h sets of 500K / 100K, subsets stored as index lists
in the run store (`cgh figure {fig} --profile paper`). Its compute budget, from a *stated*
(not measured: no GPU was available) throughput, is printed below.

The **small** profile is a CPU stand-in: the whole Fashion-MNIST training set (60,000
images) and a small BatchNorm-free CNN; e/h sets at the paper's 5:1 ratio but 20,000 /
4,000; 10 epochs instead of 90 (x0.1 at epoch 7). The classification uses a learning
rate 20x below the paper's (0.005 with momentum 0.9): in a two-seed probe (not in the run
store) at the paper's 0.1 this network passed 50% training accuracy after 18 and 32 SGD
steps of 128, so which examples count as learned would be set mostly by the
initialization and by when we happened to look. At the lower rate the crossing takes
several times as many steps and is tested every 5 steps on 3,000 fixed training examples;
the table of classification runs shows each run's stop step and its accuracy at the
evaluation before and at the stop (the overshoot). Panel (c) of Figure 5(a) shows the
curves. "Learned" is then decided by one eval-mode pass over all 60,000 training images
at the stop, so the easy fraction is near, not exactly, 50% (the paper's own counts
imply about 46% easy per run). The **smoke** profile (generated data, seconds) exercises
the code; its numbers are not evidence either way.'''

BUDGET = '''budget = eh.paper_budget()
display(Markdown(f"**Paper-profile compute budget** ({budget.attrs['assumption']}): "
                 f"{budget['GPU-hours total'].sum():.0f} GPU-hours in all."))
budget'''


EXPLORE = {
    fig: f'''from cgh_lib.book.explorer import explore_figure
explore_figure("{fig}", profile, runs, {controls}, only={only})'''
    for fig, controls, only in (
        ("ws-fig4", '[("training set", "subset")]', '{"experiment": "ws-easy-hard", "aggregator": "sgd"}'),
        ("ws-tab44", '[("training set", "subset")]', '{"experiment": "ws-easy-hard", "aggregator": "sgd"}'),
        ("ws-fig5a", '["aggregator"]', '{"experiment": "ws-easy-hard", "subset": "full"}'))
}


def nb(fig, intro, figure_code, claims_code, extra_md=""):
    return [
        ("md", intro),
        ("params", PARAMS.format(fig=fig)),
        ("code", SETUP.format(fig=fig)),
        ("code", figure_code),
        ("code", EXPLORE[fig]),
        ("md", CLAIMS_MD),
        ("code", claims_code),
        ("md", SCALE_MD.format(fig=fig) + extra_md),
        ("code", BUDGET),
    ]


PROCEDURE = '''**Procedure** (§4.2): train a ResNet-18 on ImageNet "to 50% training accuracy using
the normal training protocol"; the examples learned by then are *easy*, the rest *hard*.
Draw 500K training and 100K test examples without replacement from each (e-train /
e-test, h-train / h-test), train a ResNet-18 from scratch on each, and evaluate it on its
own test set; the *full* model is trained on the whole training set and evaluated on the
usual validation set.'''

NBS = {
    "notebooks/ws_fig4_easy_hard.ipynb": nb(
        "ws-fig4",
        f'''# WS Figure 4: easy examples generalize better than hard ones

*Zielinski, Chatterjee et al., "Weak and strong gradient directions", §4.2.*

{PROCEDURE}

**The paper's claims**: "the easy examples (e-train) is learned faster than the hard
examples (h-train)"; the early slope of the losses suggests the easy examples' gradients
are more coherent; and "the measured generalization gap for easy is significantly smaller
than that for hard", as Coherent Gradients predicts (easy examples have more in common
with each other, so their gradients are stronger and more stable).''',
        '''fig = ehp.fig4(by_key(runs), f"WS Figure 4 reproduced (profile: {profile})")
ehp.stamp(fig, ehp.eh_stamp(profile, runs))
display(eh.classify_table(runs))
eh.fig4_table(runs)''',
        '''from cgh_lib.book import claims

verdicts = claims.evaluate_figure("ws-fig4", profile, overrides, seeds)
display(Markdown("\\n".join("- " + line for line in claims.outcome_sentences(verdicts))))
claims.claims_table("ws-fig4", profile, overrides, seeds)''',
        "\n\nFigure 4's *full* run is trained here with the same recipe and epochs as e-train and "
        "h-train (the paper's full curve is presumably its Figure 1 0%-noise run).",
    ),
    "notebooks/ws_fig5a_difficulty.ipynb": nb(
        "ws-fig5a",
        f'''# WS Figure 5(a): suppressing weak directions hurts hard examples more

*Zielinski, Chatterjee et al., "Weak and strong gradient directions", §4.3.*

{PROCEDURE}

**Difficulty** (§4.3): run that easy / hard classification 8 times with different
initializations; an example's *difficulty* is how many of the 8 call it hard (0 "super
easy" to 8 "super hard"). Then train 90 epochs with **RM3** (§3: the median of the last
three minibatch gradients, no momentum) on the whole training set and report its training
accuracy at each difficulty. We add plain SGD with the same recipe as the reference.

**The paper's claims**: "the suppression of weak gradients makes it harder to learn the
more difficult examples" (99.15% at difficulty 0 down to 61.01% at 8, its table is shown
beside ours), while "all examples are correctly learned by SGD after 90 epochs".''',
        '''table = eh.difficulty_table(runs)
classify = [r for k, r in runs[seeds[0]].items() if isinstance(k, tuple)]
fig = ehp.fig5a(table, classify, f"WS Figure 5(a) reproduced (profile: {profile})")
ehp.stamp(fig, ehp.eh_stamp(profile, runs))
display(eh.classify_table(runs))
table''',
        '''from cgh_lib.book import claims

verdicts = claims.evaluate_figure("ws-fig5a", profile, overrides, seeds)
display(Markdown("\\n".join("- " + line for line in claims.outcome_sentences(verdicts))))
claims.claims_table("ws-fig5a", profile, overrides, seeds)''',
        "\n\nFigure 5(a)'s RM3 and SGD runs follow §3 (no momentum); at the CPU profiles they take "
        "lr 0.2 instead of 0.1 so that 10 epochs learn much of the training set.",
    ),
    "notebooks/ws_tab44_cross_evaluation.ipynb": nb(
        "ws-tab44",
        f'''# WS §4.4: do hard examples generalize to easy ones?

*Zielinski, Chatterjee et al., "Weak and strong gradient directions", §4.4.*

{PROCEDURE}

If SGD explored hypotheses of increasing complexity, one might expect "the decision
boundary learned from the easy examples, generalizes poorly to the hard examples, but that
learned from the hard examples generalizes well to the easy examples". The paper measures
the 2x2 cross-evaluation of the Figure 4 models: e-train on e-test 85%, on h-test 17%;
h-train on e-test 44%, on h-test 21%, and concludes that "hard examples do not generalize
well to easy examples".

**Class mix.** Easy and hard sets differ in which classes they hold, which confounds
accuracy across sets: below, each set's class histogram, and a class-balanced accuracy
(the mean of per-class accuracies) beside the plain one.''',
        '''table, mix = eh.cross_table(runs), eh.class_mix(runs)
fig = ehp.tab44(table, mix, f"WS §4.4 cross-evaluation reproduced (profile: {profile})")
ehp.stamp(fig, ehp.eh_stamp(profile, runs))
display(table)
mix''',
        '''from cgh_lib.book import claims

verdicts = claims.evaluate_figure("ws-tab44", profile, overrides, seeds)
display(Markdown("\\n".join("- " + line for line in claims.outcome_sentences(verdicts))))
claims.claims_table("ws-tab44", profile, overrides, seeds)''',
    ),
}

if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    for path, cells in NBS.items():
        write(root / path, cells)
        print("wrote", path)
