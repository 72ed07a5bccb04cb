"""Named study sizes. Each profile fixes the model and the training budgets as typed overrides of the steps'
configs (checked against their declarations when this module loads); `--seeds`, `--adapters` and `--selections`
narrow any of them. Why each budget is what it is, with the measurements behind it: `bench/results/profiles.md`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType

from molpeft_cli.choices import ADAPTERS, SELECTIONS  # noqa: F401 - the grid's axes, read from here too
from molpeft_cli.schema import settings_for
from molpeft_cli.steps.finetune import FinetuneConfig
from molpeft_cli.steps.influence import InfluenceConfig
from molpeft_cli.steps.mlm import PretrainConfig
from molpeft_cli.steps.report import ReportConfig

NONE = MappingProxyType({})


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    model: str  # base model for stage 1 (bundled name, directory or hub id); "" = train one from scratch
    mlm: MappingProxyType  # settings of the stage-1 `mlm` step (PretrainConfig and its MLM recipe)
    finetune: MappingProxyType  # settings of every cell's `finetune` step (its recipe; the adapter is the cell's)
    seeds: tuple[int, ...]
    k: int = 185
    pool_size: int = 300
    passes: int = 100  # MC-dropout passes of the strategies that take them (their config has `passes`)
    select: MappingProxyType = field(default_factory=lambda: NONE)  # more settings of those strategies
    influence: MappingProxyType = field(default_factory=lambda: NONE)  # settings of the `influence` step
    sample: int | None = None  # subsample the dataset (tiny profile)
    split_compare: bool = True
    report: MappingProxyType = field(default_factory=lambda: NONE)  # settings of the `report` step


QUICK = Profile(
    name="quick",
    description="bundled molformer-mini, all 24 cells + the direct route, one seed, every cell trained until "
                "early stopping fires",
    model="molformer-mini",
    # float32 throughout (no bf16: slower on CPUs without bf16 hardware); 5 epochs of stage-1 MLM
    mlm=settings_for(PretrainConfig, epochs=5, batch_size=64),
    # the cap is far above the tuned recipes' stopping epochs, so early stopping decides; patience 3, as in the
    # sweep that tuned the recipes (the gains come after a learning-rate halving, which patience 2 cuts off)
    finetune=settings_for(FinetuneConfig, max_epochs=40, patience=3),
    seeds=(0,),
    passes=20,
    # the last block + head, Gauss-Newton in a random projection (the best LDS of bench/results/influence_lds_*)
    influence=settings_for(InfluenceConfig, params="last-1", solver="projected", step="auto"),
    # chemprop (when installed): 15 epochs instead of its 50, for time
    report=settings_for(ReportConfig, rf_trees=100, chemprop_epochs=15),
)

PROFILES: dict[str, Profile] = {
    "tiny": Profile(
        name="tiny",
        description="tiny model trained from scratch on 240 molecules: seconds, for CI and smoke tests",
        model="",
        mlm=settings_for(PretrainConfig, from_scratch=True, size="tiny", max_steps=20, batch_size=32, holdout=0.1,
                         patience=0),
        # patience 2 within 2 epochs cannot fire: tiny cells are reported as not converged, on purpose (fast)
        finetune=settings_for(FinetuneConfig, max_epochs=2, patience=2, batch_size=32),
        seeds=(0,),
        k=12,
        pool_size=40,
        passes=5,
        influence=settings_for(InfluenceConfig, params="head", depth=50, step="auto", damping="0.1"),
        sample=240,
        split_compare=False,
        report=settings_for(ReportConfig, chemprop=False),  # the chemprop baseline has its own test
    ),
    "quick": QUICK,
    # the quick study over three seeds: its seed-0 steps are the quick profile's, config for config, so
    # `molpeft run --profile full -o RUN` on a finished quick run RUN adds seeds 1 and 2 and re-runs only the report
    "full": replace(
        QUICK,
        name="full",
        description="bundled molformer-mini, the quick profile's cells over 3 seeds, so the intervals include "
                    "training noise",
        seeds=(0, 1, 2),
        report=NONE,  # chemprop with its default 50 epochs
    ),
    "paper": Profile(
        name="paper",
        description="MoLFormer-XL from the hub with the original study's settings, 3 seeds: for a GPU",
        model="ibm/MoLFormer-XL-both-10pct",
        mlm=settings_for(PretrainConfig, epochs=10),
        finetune=settings_for(FinetuneConfig, max_epochs=50, patience=5),
        seeds=(0, 1, 2),
        influence=settings_for(InfluenceConfig, params="last-2", step="auto"),
    ),
}
