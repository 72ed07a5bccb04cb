"""Named study sizes. Each profile fixes the model and the training budgets; `--seeds`, `--adapters` and
`--selections` narrow any of them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from molpeft_cli.choices import ADAPTERS, SELECTIONS  # noqa: F401 - the grid's axes, read from here too


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    model: str  # base model for stage 1 (bundled name, directory or hub id); "" = train one from scratch
    mlm_args: tuple[str, ...]
    finetune_args: tuple[str, ...]
    seeds: tuple[int, ...]
    k: int = 185
    pool_size: int = 300
    passes: int = 100
    select_args: tuple[str, ...] = ()  # extra flags for `select --strategy mcdropout`
    influence_args: tuple[str, ...] = ()
    sample: int | None = None  # subsample the dataset (tiny profile)
    split_compare: bool = True
    report_args: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict)


QUICK = Profile(
    name="quick",
    description="bundled molformer-mini, all 24 cells + the direct route, one seed, every cell trained until "
                "early stopping fires",
    model="molformer-mini",
    # float32 throughout: bf16 autocast is 5-12x slower than float32 on CPUs without bf16 hardware (AVX2
    # only: measured 12.6 vs 1.0 s per training step of molformer-mini on 32 x 48 tokens), and the model is
    # small enough that a GPU does not need it either
    # stage 1: 5 epochs of MLM on the training split (held-out loss still falling after 1: 0.473 -> 0.434)
    mlm_args=("--epochs", "5", "--batch-size", "64"),
    # the cap is far above the tuned recipes' stopping epochs (4-21 in the sweep), so early stopping decides.
    # Patience 3, as in the sweep that tuned the recipes: the rate halves after each epoch without a better
    # validation MSE, and the gains come after a halving (model card, seed 0: 0.946 -> 0.692 at the first halving,
    # best 0.642 at epoch 13), which patience 2 cuts off (it stopped the direct cell at epoch 5 with 0.847)
    finetune_args=("--max-epochs", "40", "--patience", "3"),
    seeds=(0,),
    passes=20,
    # the last block + head, Gauss-Newton in a random projection: LDS 0.27 against 0.08-0.12 for the head alone
    # (bench/results/influence_lds_bundled.md), in about 90 s
    influence_args=("--params", "last-1", "--solver", "projected", "--step", "auto"),
    # chemprop (when installed): 15 epochs instead of its 50, about 5 min on 2 cores instead of about 18
    report_args=("--rf-trees", "100", "--chemprop-epochs", "15"),
)

PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        description="tiny model trained from scratch on 240 molecules: seconds, for CI and smoke tests",
        model="",
        mlm_args=("--from-scratch", "--size", "tiny", "--max-steps", "20", "--batch-size", "32",
                  "--holdout", "0.1", "--patience", "0"),
        # patience 2 within 2 epochs cannot fire: tiny cells are reported as not converged, on purpose (fast)
        finetune_args=("--max-epochs", "2", "--patience", "2", "--batch-size", "32"),
        seeds=(0,),
        k=12,
        pool_size=40,
        passes=5,
        influence_args=("--params", "head", "--depth", "50", "--step", "auto", "--damping", "0.1"),
        sample=240,
        split_compare=False,
        report_args=("--no-chemprop",),  # the chemprop baseline has its own test
    ),
    "quick": QUICK,
    # the quick study over three seeds: its seed-0 steps are the quick profile's, command line for command line, so
    # `molpeft run --profile full -o RUN` on a finished quick run RUN adds seeds 1 and 2 and re-runs only the report
    "full": replace(
        QUICK,
        name="full",
        description="bundled molformer-mini, the quick profile's cells over 3 seeds, so the intervals include "
                    "training noise",
        seeds=(0, 1, 2),
        report_args=(),  # chemprop with its default 50 epochs
    ),
    "paper": Profile(
        name="paper",
        description="MoLFormer-XL from the hub with the original study's settings, 3 seeds: for a GPU",
        model="ibm/MoLFormer-XL-both-10pct",
        mlm_args=("--epochs", "10"),
        finetune_args=("--max-epochs", "50", "--patience", "5"),
        seeds=(0, 1, 2),
        influence_args=("--params", "last-2", "--step", "auto"),
    ),
}
