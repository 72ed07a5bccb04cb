"""The study as an ordered list of steps, each one `molpeft` command line with its output and dependencies.

The same list drives `molpeft run` (in order, skipping steps whose manifest matches) and the Makefile it writes
(`make -j` runs independent cells in parallel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT, cell_name, selection_name
from molpeft_cli.choices import NO_SELECTION
from molpeft_cli.pipeline.profiles import Profile

SPLIT_SEED = 0  # one split for every training seed, so cells compare on the same test molecules


@dataclass
class Step:
    name: str
    argv: list[str]
    output: Path
    directory: bool = False
    deps: list[str] = field(default_factory=list)
    extra_outputs: list[Path] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.output / "manifest.json" if self.directory else self.output.with_name(
            self.output.name + ".manifest.json")


@dataclass
class StudyPlan:
    run_dir: Path
    profile: Profile
    seeds: list[int]
    adapters: list[str]
    selections: list[str]
    pool: str | None
    model: str
    steps: list[Step] = field(default_factory=list)
    features: list[str] = field(default_factory=list)  # `finetune --features` of every cell (none by default)

    def add(self, step: Step) -> Step:
        if any(s.name == step.name for s in self.steps):
            raise ValueError(f"duplicate step {step.name}")
        self.steps.append(step)
        return step

    def describe(self) -> dict:
        return {"profile": self.profile.name, "seeds": self.seeds, "adapters": self.adapters,
                "selections": self.selections, "model": self.model or "(trained from scratch)",
                "pool": {"kind": "file", "path": self.pool} if self.pool else
                        {"kind": "carved", "n": self.profile.pool_size, "seed": SPLIT_SEED},
                "steps": len(self.steps),
                # only when used, so that run.json of a plan without them stays byte-identical
                **({"features": list(self.features)} if self.features else {})}


def build_plan(run_dir: Path, profile: Profile, seeds: list[int], adapters: list[str], selections: list[str],
               pool: str | None, model: str | None, source: str = "lipophilicity",
               features: list[str] | None = None) -> StudyPlan:
    d = Path(run_dir)
    model = profile.model if model is None else model
    plan = StudyPlan(d, profile, seeds, adapters, selections, pool, model, features=list(features or []))
    data = d / "data"
    molecules, dataset, pool_table, split = (data / "molecules.parquet", data / "dataset.parquet",
                                             data / "pool.parquet", data / "split.parquet")
    sample = ["--sample", str(profile.sample), "--seed", str(SPLIT_SEED)] if profile.sample else []
    plan.add(Step("data", ["data", source, "-o", str(molecules), *sample], molecules))
    if pool:
        plan.add(Step("pool", ["data", pool, "-o", str(pool_table)], pool_table))
        plan.add(Step("dataset", ["data", source, "-o", str(dataset), *sample], dataset))
    else:
        plan.add(Step("pool", ["carve", str(molecules), "-o", str(dataset), "--pool", str(pool_table),
                               "--size", str(profile.pool_size), "--seed", str(SPLIT_SEED)], pool_table,
                      deps=["data"], extra_outputs=[dataset]))
    dataset_step = "dataset" if pool else "pool"
    plan.add(Step("split", ["split", str(dataset), "--strategy", "scaffold", "-o", str(split), "--seed",
                            str(SPLIT_SEED), "--summary", str(data / "split_summary.json")], split,
                  deps=[dataset_step]))
    if profile.split_compare:
        compare = data / "split_compare.parquet"
        plan.add(Step("split-compare", ["split", str(dataset), "--compare", "-o", str(compare), "--seed",
                                        str(SPLIT_SEED)], compare, deps=[dataset_step]))
    audit = data / "audit.parquet"
    plan.add(Step("audit", ["audit", str(split), str(pool_table), "-o", str(audit), "--summary",
                            str(data / "audit.json")], audit, deps=["split", "pool"]))
    mlm = d / "models" / "mlm"
    mlm_argv = ["mlm", str(split), "-o", str(mlm), "--seed", str(SPLIT_SEED), *profile.mlm_args]
    if model:
        mlm_argv += ["--model", model]
    else:
        mlm_argv += ["--vocab-extra", str(dataset), "--vocab-extra", str(pool_table)]
    plan.add(Step("mlm", mlm_argv, mlm, directory=True, deps=["split", "pool"]))

    for seed in seeds:
        _selection_steps(plan, seed, split, pool_table)
        for adapter in adapters:
            for selection in selections:
                _cell_steps(plan, MAIN_VARIANT, adapter, selection, seed, str(mlm), "mlm", split)
        if "full" in adapters and NO_SELECTION in selections and model:
            _cell_steps(plan, DIRECT_VARIANT, "full", NO_SELECTION, seed, model, None, split)
    plan.add(Step("report", ["report", str(d), "-o", str(d / "report"), *profile.report_args], d / "report",
                  directory=True,
                  deps=[s.name for s in plan.steps if s.name.startswith("eval:")]))
    return plan


def _selection_steps(plan: StudyPlan, seed: int, split: Path, pool: Path) -> None:
    d, p = plan.run_dir, plan.profile
    base_cell = cell_name(MAIN_VARIANT, "full", NO_SELECTION, seed)
    base_ckpt = d / "cells" / base_cell
    needs_base = {"mcdropout", "influence"} & set(plan.selections)
    if needs_base and not any(s.name == f"finetune:{base_cell}" for s in plan.steps):
        _finetune_step(plan, MAIN_VARIANT, "full", NO_SELECTION, seed, str(d / "models" / "mlm"), "mlm", split)
    common = ["--exclude", str(split), "--seed", str(seed)]
    for strategy in plan.selections:
        if strategy == NO_SELECTION:
            continue
        out = d / "selections" / f"{selection_name(strategy, seed)}.parquet"
        argv = ["select", str(pool), "--strategy", strategy, "-o", str(out), *common]
        deps = ["pool", "split"]
        if strategy != "all":
            argv += ["-k", str(p.k)]
        if strategy == "maxmin":
            argv += ["--train", str(split)]
        if strategy == "mcdropout":
            argv += ["--model", str(base_ckpt), "--passes", str(p.passes), *p.select_args]
            deps.append(f"finetune:{base_cell}")
        if strategy == "influence":
            scores = d / "scores" / f"{selection_name('influence', seed)}.parquet"
            plan.add(Step(f"influence:s{seed}", ["influence", str(base_ckpt), "--train", str(split), "--pool",
                                                 str(pool), "-o", str(scores), "--seed", str(seed),
                                                 *p.influence_args], scores,
                          deps=[f"finetune:{base_cell}", "pool", "split"]))
            argv += ["--scores", str(scores)]
            deps.append(f"influence:s{seed}")
        plan.add(Step(f"select:{strategy}-s{seed}", argv, out, deps=deps))


def _finetune_step(plan: StudyPlan, variant: str, adapter: str, selection: str, seed: int, model: str,
                   model_step: str | None, split: Path) -> str:
    d = plan.run_dir
    name = cell_name(variant, adapter, selection, seed)
    argv = ["finetune", str(split), "-o", str(d / "cells" / name), "--model", model, "--peft", adapter,
            "--seed", str(seed), "--truncate", *plan.profile.finetune_args]
    if plan.features:
        argv += ["--features", ",".join(plan.features)]
    deps = ["split"] + ([model_step] if model_step else [])
    if selection != NO_SELECTION:
        argv += ["--extra", str(d / "selections" / f"{selection_name(selection, seed)}.parquet")]
        deps.append(f"select:{selection}-s{seed}")
    plan.add(Step(f"finetune:{name}", argv, d / "cells" / name, directory=True, deps=deps))
    return name


def _cell_steps(plan: StudyPlan, variant: str, adapter: str, selection: str, seed: int, model: str,
                model_step: str | None, split: Path) -> None:
    d = plan.run_dir
    name = cell_name(variant, adapter, selection, seed)
    if not any(s.name == f"finetune:{name}" for s in plan.steps):
        _finetune_step(plan, variant, adapter, selection, seed, model, model_step, split)
    preds, metrics = d / "eval" / f"{name}.predictions.parquet", d / "eval" / f"{name}.metrics.parquet"
    plan.add(Step(f"eval:{name}", ["eval", str(d / "cells" / name), str(split), "--split", "test", "-o",
                                   str(preds), "--metrics", str(metrics), "--run", name, "--variant", variant,
                                   "--truncate"], preds, deps=[f"finetune:{name}"], extra_outputs=[metrics]))
