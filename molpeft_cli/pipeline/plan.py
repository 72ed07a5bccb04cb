"""The study as an ordered list of steps, each one step config (the same dataclass the `molpeft` command builds
from its options) with its output and dependencies.

The same list drives `molpeft run` (in order, skipping steps whose manifest matches) and the Makefile and
Snakefile it writes, where each step's config is written as its command line (`schema.to_args`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from molpeft_cli.cells import DIRECT_VARIANT, MAIN_VARIANT, cell_name, selection_name
from molpeft_cli.choices import NO_SELECTION
from molpeft_cli.pipeline.profiles import Profile
from molpeft_cli.schema import command_of, make, to_args

SPLIT_SEED = 0  # one split for every training seed, so cells compare on the same test molecules


@dataclass
class Step:
    name: str
    config: Any  # the step's config dataclass (steps.STEPS names its class by command)
    output: Path
    directory: bool = False
    deps: list[str] = field(default_factory=list)
    extra_outputs: list[Path] = field(default_factory=list)
    given: tuple[str, ...] = ()  # the settings the plan set: written on the command line even at their defaults

    @property
    def command(self) -> str:
        return command_of(type(self.config))

    @property
    def argv(self) -> list[str]:
        """The command line that stands for the step's config (without the program and global options)."""
        return [self.command, *to_args(self.config, self.given)]

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
    source: str = "lipophilicity"  # the dataset (`data`'s SOURCE)
    columns: dict[str, str] = field(default_factory=dict)  # the dataset's smiles_col, label_col, id_col as given
    task: str = "auto"  # as given to `run`; auto: `data` decides from the labels, and each step agrees from the same
    budgets: list[int] = field(default_factory=list)  # `run --budgets`: the k of every selection; [] = the profile's

    def budgets_of(self, strategy: str) -> list[tuple[int, int | None]]:
        """(k, the budget in the cell's and selection's names: None for the profile's own k) of each cell of a
        strategy: every budget for one that takes k, the profile's k alone for one that does not (`all`)."""
        from molpeft_cli.selection import REGISTRY

        if strategy == NO_SELECTION or not REGISTRY[strategy].takes_k:
            return [(self.profile.k, None)]
        return [(k, None if k == self.profile.k else k) for k in (self.budgets or [self.profile.k])]

    def add(self, step: Step) -> Step:
        if any(s.name == step.name for s in self.steps):
            raise ValueError(f"duplicate step {step.name}")
        self.steps.append(step)
        return step

    def has(self, name: str) -> bool:
        return any(s.name == name for s in self.steps)

    def describe(self) -> dict:
        return {"profile": self.profile.name, "seeds": self.seeds, "adapters": self.adapters,
                "selections": self.selections, "model": self.model or "(trained from scratch)",
                "pool": {"kind": "file", "path": self.pool} if self.pool else
                        {"kind": "carved", "n": self.profile.pool_size, "seed": SPLIT_SEED},
                "steps": len(self.steps),
                # only when used, so that run.json of a plan without them stays byte-identical
                **({"data": {"source": self.source, **self.columns}}
                   if self.source != "lipophilicity" or self.columns else {}),
                **({"task": self.task} if self.task != "auto" else {}),
                **({"budgets": list(self.budgets)} if self.budgets and self.budgets != [self.profile.k] else {}),
                **({"features": list(self.features)} if self.features else {})}


def config_for(command: str, **settings: Any) -> Any:
    """The config of a step by its command name, from settings given by name (the rest at their defaults)."""
    from molpeft_cli.steps import step as step_function

    config_cls, _ = step_function(command)
    return make(config_cls, **settings)


def planned(name: str, command: str, path: Path, /, *, directory: bool = False, deps: list[str] | None = None,
            extra_outputs: list[Path] | None = None, **settings: Any) -> Step:
    """The step `name` writing `path`, its config made from `settings` (by name, as `config_for`), which its
    command line shows."""
    return Step(name, config_for(command, **settings), path, directory, list(deps or []), list(extra_outputs or []),
                tuple(settings))


def build_plan(run_dir: Path, profile: Profile, seeds: list[int], adapters: list[str], selections: list[str],
               pool: str | None, model: str | None, source: str = "lipophilicity",
               features: list[str] | None = None, columns: dict[str, str] | None = None,
               task: str = "auto", budgets: list[int] | None = None) -> StudyPlan:
    """The study's steps. `columns` names the dataset's smiles_col, label_col and id_col (as `data` takes them);
    the pool is read with the same label column when it has one of that name. `task` other than auto is passed to
    the steps that read labels (data for the dataset and the pool, finetune); under auto each decides from the same
    labels by the same rule (`tasks.detect_task`), and the rest read it from the checkpoints. `budgets`: the
    number of pool molecules each selection cell adds, one cell per budget (default: the profile's k); the
    selections of a strategy are made once per budget, and are nested where the strategy ranks the pool."""
    d = Path(run_dir)
    model = profile.model if model is None else model
    columns = dict(columns or {})
    plan = StudyPlan(d, profile, seeds, adapters, selections, pool, model, features=list(features or []),
                     source=source, columns=columns, task=task, budgets=sorted(set(budgets or [])))
    told = {"task": task} if task != "auto" else {}
    data = d / "data"
    molecules, dataset, pool_table, split = (data / "molecules.parquet", data / "dataset.parquet",
                                             data / "pool.parquet", data / "split.parquet")
    sample = {"sample": profile.sample, "seed": SPLIT_SEED} if profile.sample else {}
    plan.add(planned("data", "data", molecules, source=source, output=str(molecules), **columns, **sample, **told))
    if pool:
        label = columns.get("label_col")
        pool_columns = {"label_col": label} if label and label in _header(pool) else {}
        plan.add(planned("pool", "data", pool_table, source=pool, output=str(pool_table), **pool_columns, **told))
        plan.add(planned("dataset", "data", dataset, source=source, output=str(dataset), **columns, **sample,
                         **told))
    else:
        plan.add(planned("pool", "carve", pool_table, deps=["data"], extra_outputs=[dataset], input=str(molecules),
                         output=str(dataset), pool=str(pool_table), size=profile.pool_size, seed=SPLIT_SEED))
    dataset_step = "dataset" if pool else "pool"
    plan.add(planned("split", "split", split, deps=[dataset_step], input=str(dataset), strategy="scaffold",
                     output=str(split), seed=SPLIT_SEED, summary=str(data / "split_summary.json")))
    if profile.split_compare:
        compare = data / "split_compare.parquet"
        plan.add(planned("split-compare", "split", compare, deps=[dataset_step], input=str(dataset), compare=True,
                         output=str(compare), seed=SPLIT_SEED))
    audit = data / "audit.parquet"
    plan.add(planned("audit", "audit", audit, deps=["split", "pool"], split_table=str(split), pool=str(pool_table),
                     output=str(audit), summary=str(data / "audit.json")))
    mlm = d / "models" / "mlm"
    start = {"model": model} if model else {"vocab_extra": [str(dataset), str(pool_table)]}
    plan.add(planned("mlm", "mlm", mlm, directory=True, deps=["split", "pool"], input=str(split), output=str(mlm),
                     seed=SPLIT_SEED, **profile.mlm, **start))

    for seed in seeds:
        _selection_steps(plan, seed, split, pool_table)
        for adapter in adapters:
            for selection in selections:
                for _, budget in plan.budgets_of(selection):
                    _cell_steps(plan, MAIN_VARIANT, adapter, selection, seed, str(mlm), "mlm", split, budget)
        if "full" in adapters and NO_SELECTION in selections and model:
            _cell_steps(plan, DIRECT_VARIANT, "full", NO_SELECTION, seed, model, None, split)
    plan.add(planned("report", "report", d / "report", directory=True,
                     deps=[s.name for s in plan.steps if s.name.startswith("eval:")], run_dir=str(d),
                     output=str(d / "report"), **profile.report))
    return plan


def _header(path: str) -> list[str]:
    """The column names of a CSV/parquet file (nothing else is read); [] when it cannot be read."""
    import polars as pl

    try:
        scan = pl.scan_parquet(path) if path.endswith((".parquet", ".pq")) else pl.scan_csv(path, infer_schema_length=0)
        return list(scan.collect_schema().names())
    except Exception:  # noqa: BLE001 - the pool's own `data` step reports an unreadable file properly
        return []


def _selection_steps(plan: StudyPlan, seed: int, split: Path, pool: Path) -> None:
    """One `select` step per strategy of the plan; what each strategy declares it needs (a fine-tuned model, an
    influence scores table, the training split) decides its other settings and the steps it waits for."""
    from molpeft_cli.selection import REGISTRY

    d, p = plan.run_dir, plan.profile
    base_cell = cell_name(MAIN_VARIANT, "full", NO_SELECTION, seed)
    base_ckpt, base_step = d / "cells" / base_cell, f"finetune:{base_cell}"
    strategies = [s for s in plan.selections if s != NO_SELECTION]
    # strategies that read a fine-tuned model (directly, or through influence scores) read the seed's full cell
    if any(REGISTRY[s].needs & {"model", "scores"} for s in strategies) and not plan.has(base_step):
        _finetune_step(plan, MAIN_VARIANT, "full", NO_SELECTION, seed, str(d / "models" / "mlm"), "mlm", split)
    for strategy in strategies:
        needs = REGISTRY[strategy].needs
        common: dict[str, Any] = {"pool": str(pool), "strategy": strategy, "exclude": str(split), "seed": seed}
        deps = ["pool", "split"]
        if "train" in needs:
            common["train"] = str(split)
        if "model" in needs:
            common["model"] = str(base_ckpt)
            if "passes" in {f.name for f in fields(REGISTRY[strategy].config_cls)}:  # the MC-dropout strategies
                common.update(passes=p.passes, **p.select)
            deps.append(base_step)
        if "scores" in needs:  # one scores table per seed, whatever the budgets
            scores = d / "scores" / f"{selection_name(strategy, seed)}.parquet"
            influence = f"influence:s{seed}" if strategy == "influence" else f"influence:{strategy}-s{seed}"
            plan.add(planned(influence, "influence", scores, deps=[base_step, "pool", "split"],
                             checkpoint=str(base_ckpt), train=str(split), pool=str(pool), output=str(scores),
                             seed=seed, **p.influence))
            common["scores"] = str(scores)
            deps.append(influence)
        for k, budget in plan.budgets_of(strategy):
            name = selection_name(strategy, seed, budget)
            out = d / "selections" / f"{name}.parquet"
            given = {"k": k} if REGISTRY[strategy].takes_k else {}
            plan.add(planned(f"select:{name}", "select", out, deps=list(deps), output=str(out), **common, **given))


def _finetune_step(plan: StudyPlan, variant: str, adapter: str, selection: str, seed: int, model: str,
                   model_step: str | None, split: Path, budget: int | None = None) -> str:
    d = plan.run_dir
    name = cell_name(variant, adapter, selection, seed, budget)
    settings: dict[str, Any] = {"split_table": str(split), "output": str(d / "cells" / name), "model": model,
                                "peft": adapter, "seed": seed, "truncate": True, **plan.profile.finetune,
                                **({"task": plan.task} if plan.task != "auto" else {})}
    if plan.features:
        settings["features"] = list(plan.features)
    deps = ["split"] + ([model_step] if model_step else [])
    if selection != NO_SELECTION:
        settings["extra"] = [str(d / "selections" / f"{selection_name(selection, seed, budget)}.parquet")]
        deps.append(f"select:{selection_name(selection, seed, budget)}")
    plan.add(planned(f"finetune:{name}", "finetune", d / "cells" / name, directory=True, deps=deps, **settings))
    return name


def _cell_steps(plan: StudyPlan, variant: str, adapter: str, selection: str, seed: int, model: str,
                model_step: str | None, split: Path, budget: int | None = None) -> None:
    d = plan.run_dir
    name = cell_name(variant, adapter, selection, seed, budget)
    if not plan.has(f"finetune:{name}"):
        _finetune_step(plan, variant, adapter, selection, seed, model, model_step, split, budget)
    preds, metrics = d / "eval" / f"{name}.predictions.parquet", d / "eval" / f"{name}.metrics.parquet"
    plan.add(planned(f"eval:{name}", "eval", preds, deps=[f"finetune:{name}"], extra_outputs=[metrics],
                     checkpoint=str(d / "cells" / name), data=str(split), split="test", output=str(preds),
                     metrics=str(metrics), run=name, variant=variant, truncate=True))
