"""Run a sweep: every configuration of the grid for every seed, scored by its best validation MSE (classification:
the validation log loss at the epoch early stopping chose; lower is better for both).

Finished trials are kept in OUTPUT/trials/<key>.json (key: hash of split, base model, options and seed), so an
interrupted sweep resumes and a rerun with the same settings costs nothing. Trials may run in worker processes
(`jobs`); each trial is seeded, so the results do not depend on how many run at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl

from molpeft_cli.data.atomic import write_text_atomic
from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.training.options import FinetuneOptions
from molpeft_cli.tuning.grid import Grid
from molpeft_cli.tuning.trial import SCORES, TrialSpec, run_trial

log = logging.getLogger(__name__)
MARKER = "tune.json"  # names a folder as a sweep's output (the folder is reused to resume)


@dataclass
class SweepResult:
    output: Path
    trials: pl.DataFrame  # one row per configuration and seed
    summary: pl.DataFrame  # one row per configuration, best first
    best: dict[str, Any]  # the winning configuration's option values (every tuned option, varied or not)
    task: str = "regression"

    @property
    def score(self) -> str:
        return SCORES[self.task]


def check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise MolpeftError(f"{output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / MARKER).exists():
        raise MolpeftError(f"{output} exists, is not empty and holds no earlier sweep; choose a new -o")


def trial_key(split_sha: str, model_sha: str, options: dict[str, Any], seed: int) -> str:
    if options.get("peft") != "lora":  # LoRA's options do not touch other methods' trials
        options = {k: v for k, v in options.items() if not k.startswith("lora_")}
    if not options.get("features"):  # keys of trials without extra features stay as before the option existed
        options = {k: v for k, v in options.items() if k != "features"}
    text = json.dumps({"split": split_sha, "model": model_sha, "options": options, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_sweep(split_path: str, output: str | Path, grid: Grid, base: FinetuneOptions, model_ref: str,
              seeds: list[int], jobs: int = 1, threads: int | None = None, device: str = "auto") -> SweepResult:
    """Run (or resume) the sweep and write its tables, its report and the winning configuration."""
    from molpeft_cli.data.manifest import sha256_path
    from molpeft_cli.training.checkpoint import BaseModelRef

    output = Path(output)
    check_output(output)
    if not seeds:
        raise SettingError("seeds", "{setting} is empty")
    if jobs < 1:
        raise SettingError("jobs", "{setting} must be at least 1")
    if not Path(split_path).is_file():
        raise MolpeftError(f"split table not found: {split_path}")
    from molpeft_cli.tasks import resolve_task
    from molpeft_cli.tuning.trial import train_valid_sets

    task = resolve_task(base.task, train_valid_sets(split_path)[0].labels)
    base = base.for_task(task)  # recorded in each trial's options (and its key) for classification only
    score = SCORES[task]
    base_ref = BaseModelRef.resolve(model_ref)
    split_sha = sha256_path(split_path)
    (output / "trials").mkdir(parents=True, exist_ok=True)
    write_text_atomic(output / MARKER, json.dumps({"method": grid.method, "split": str(split_path),
                                                   "model": model_ref, "seeds": seeds}, indent=2) + "\n")
    pending, rows = [], []
    for index, overrides in enumerate(grid.as_dicts()):
        options = replace(base, peft=grid.method, **overrides).resolved().to_dict()
        for seed in seeds:
            key = trial_key(split_sha, base_ref.sha256, options, seed)
            record = {"config": index, "seed": seed, "key": key, **{k: options[k] for k in overrides}}
            path = output / "trials" / f"{key}.json"
            if path.exists():
                rows.append({**record, **json.loads(path.read_text())})
            else:
                pending.append((record, TrialSpec(str(split_path), base_ref.path, options, seed, threads, device)))
    log.info(f"tune {grid.method} ({task}, scored on {SCORE_LABELS[score]}): {len(grid)} configurations x "
             f"{len(seeds)} seed(s); {len(rows)} trials already done, {len(pending)} to run with {jobs} worker(s)")
    for record, result in _run_all(pending, jobs):
        write_text_atomic(output / "trials" / f"{record['key']}.json", json.dumps(result) + "\n")
        rows.append({**record, **result})
        values = ", ".join(f"{k} {record[k]:g}" for k in grid.varied())
        log.info(f"  {values}, seed {record['seed']}: {SCORE_LABELS[score]} {result[score]:.4f} at epoch "
             f"{result['best_epoch']}/{result['epochs']}{'' if result['converged'] else ' (not converged)'}")
    trials = _trials_table(rows, grid, score)
    summary = summarise(trials, grid.varied(), score)
    best = grid.as_dicts()[summary["config"][0]]
    return SweepResult(output, trials, summary, best, task)


def _run_all(pending: list, jobs: int):
    if jobs == 1 or len(pending) <= 1:
        for record, spec in pending:
            yield record, run_trial(spec)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked torch process that already ran threads can deadlock in its thread pool
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_trial, spec): record for record, spec in pending}
        for future in as_completed(futures):
            yield futures[future], future.result()


SCORE_LABELS = {"valid_mse": "valid MSE", "valid_log_loss": "valid log loss"}


SCORED_ON = {"valid_mse": "best epoch's MSE under early stopping",
             "valid_log_loss": "classification: the log loss at the epoch early stopping chose"}


def score_of(summary: pl.DataFrame) -> str:
    """The score a summary table ranks by (valid_mse, or valid_log_loss for classification)."""
    return next((s for s in SCORES.values() if f"{s}_mean" in summary.columns), "valid_mse")


def _trials_table(rows: list[dict], grid: Grid, score: str = "valid_mse") -> pl.DataFrame:
    keep = ["config", *grid.varied(), "seed", score, "best_epoch", "epochs", "converged", "train_seconds"]
    table = pl.DataFrame([{k: r.get(k) for k in keep} for r in rows])
    return table.sort("config", "seed")


def summarise(trials: pl.DataFrame, varied: list[str], score: str = "valid_mse") -> pl.DataFrame:
    """Per configuration: mean and sd (over seeds) of the score (the best validation MSE; classification's
    validation log loss), best (lowest) first, with the gap to the best."""
    summary = trials.group_by("config", *varied).agg(
        pl.col(score).mean().alias(f"{score}_mean"),
        pl.col(score).std(ddof=1).alias(f"{score}_sd"),
        pl.len().alias("n_seeds"),
        pl.col("converged").sum().alias("n_converged"),
        pl.col("epochs").mean().alias("epochs_mean"),
        pl.col("train_seconds").mean().alias("train_seconds_mean"),
    ).sort(f"{score}_mean", "config")
    best = summary[f"{score}_mean"][0]
    return summary.with_columns((pl.col(f"{score}_mean") - best).alias("gap_to_best"),
                                pl.int_range(1, pl.len() + 1).alias("rank"))


def margin_text(summary: pl.DataFrame) -> str:
    """How clearly the winner won: its gap to the runner-up, against the seed spread, and the grid's range."""
    if summary.height < 2:
        return "one configuration only, so no comparison"
    score = score_of(summary)
    best, second = summary.row(0, named=True), summary.row(1, named=True)
    gap, spread = second[f"{score}_mean"] - best[f"{score}_mean"], summary["gap_to_best"].max()
    sds = [best[f"{score}_sd"], second[f"{score}_sd"]]
    if all(sd is not None and not math.isnan(sd) for sd in sds):
        # sd of a difference of two independent seed means: sqrt(sd1^2/n1 + sd2^2/n2)
        sd = math.sqrt(sds[0] ** 2 / best["n_seeds"] + sds[1] ** 2 / second["n_seeds"])
        noise = (f"; that is {gap / sd:.1f} times the seed noise of the difference (sd {sd:.4f})" if sd > 0
                 else "; the seeds agree exactly")
    else:
        noise = "; one seed per configuration, so the margin is not compared with training noise"
    return (f"won by {gap:.4f} {SCORE_LABELS[score]} over the runner-up ({100 * gap / best[f'{score}_mean']:.1f}%)"
            f"{noise}; "
            f"the grid spans {spread:.4f} from best to worst")


def write_outputs(result: SweepResult, grid: Grid, base: FinetuneOptions, manifest: dict[str, Any]) -> None:
    from molpeft_cli.data.manifest import write_manifest
    from molpeft_cli.data.tables import write_table

    out = result.output
    write_table(result.trials, out / "trials.parquet")
    write_table(result.summary, out / "results.parquet")
    best = replace(base, peft=grid.method, **result.best).for_task(result.task).resolved()
    write_text_atomic(out / "best.toml", _toml(best, result))
    write_text_atomic(out / "tune.md", render_markdown(result, grid, base))
    write_manifest(out, manifest, outputs_dir=True)


def _toml(options: FinetuneOptions, result: SweepResult) -> str:
    lines = [f"# winner of `molpeft tune` ({margin_text(result.summary)})",
             "# use with: molpeft finetune SPLIT --config best.toml -o CKPT", "[finetune]"]
    for key, value in options.to_dict().items():  # the task's settings for classification only
        if value is None:
            continue
        lines.append(f"{key} = {json.dumps(value) if isinstance(value, str | bool) else repr(value)}")
    return "\n".join(lines) + "\n"


def render_markdown(result: SweepResult, grid: Grid, base: FinetuneOptions) -> str:
    varied = grid.varied()
    score = result.score
    header = ["rank", *varied, f"{SCORE_LABELS[score]} mean", "sd", "seeds", "converged", "epochs", "gap to best",
              "seconds"]
    lines = [f"# molpeft tune: {grid.method}", "",
             f"Scored on the validation split only ({SCORED_ON[score]}; the test split is never read). Fixed: "
             f"max_epochs {base.max_epochs}, patience {base.patience}, batch_size {base.batch_size}, "
             f"warmup_epochs {base.warmup_epochs}, plateau_factor {base.plateau_factor}, bf16 {base.bf16}.", "",
             "**Winner: " + ", ".join(f"{k} = {result.best[k]:g}" for k in varied)
             + f"** — {margin_text(result.summary)}.",
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result.summary.iter_rows(named=True):
        sd = row[f"{score}_sd"]
        cells = [str(row["rank"]), *(f"{row[k]:g}" for k in varied), f"{row[f'{score}_mean']:.4f}",
                 f"{sd:.4f}" if sd is not None and not math.isnan(sd) else "n/a", str(row["n_seeds"]),
                 f"{row['n_converged']}/{row['n_seeds']}", f"{row['epochs_mean']:.1f}", f"+{row['gap_to_best']:.4f}",
                 f"{row['train_seconds_mean']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
