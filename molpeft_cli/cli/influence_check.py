"""`molpeft influence-check`: how well influence scores predict retraining on the model itself (the LDS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def influence_check(
    ctx: typer.Context,
    checkpoint: Annotated[str, typer.Argument(metavar="CKPT", help="The fine-tuned checkpoint the scores are of.")],
    train: Annotated[str, typer.Option(help="Split table (train: retrained on; valid: the loss measured).")],
    pool: Annotated[str, typer.Option(help="The labelled pool table that was scored.")],
    scores: Annotated[list[str], typer.Option(help="Scores table(s) from `molpeft influence` on this checkpoint "
                                              "and pool (repeat the option; each is one setting).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Check table: one LDS row per scores table.")],
    subsets: Annotated[int, typer.Option(help="M: random pool subsets, each retrained.")] = 20,
    fraction: Annotated[float, typer.Option(help="Fraction of the pool in each subset.")] = 0.5,
    epochs: Annotated[int, typer.Option(help="Epochs of training from the checkpoint per subset.")] = 1,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: the checkpoint's).")] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for the CI.")] = 2000,
    retraining: Annotated[str | None, typer.Option(help="Retraining record (JSON): reused when it exists (same "
                                                   "settings and pool), else written after retraining, so "
                                                   "later checks of other scores skip the retraining.")] = None,
    jobs: Annotated[int, typer.Option(help="Worker processes for the retrainings (one thread each); the "
                                      "results do not depend on it.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Seed of subsets, training order, bootstrap (default: "
                                             "global --seed).")] = None,
) -> None:
    """Retrain from CKPT with M random pool subsets added; LDS = Spearman(predicted, measured) with a bootstrap CI."""
    import numpy as np
    import polars as pl

    from molpeft_cli.cli.options import argv, runtime_of
    from molpeft_cli.console import info
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import read_table, require_columns, write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.influence.check import (
        CHECK_COLUMNS,
        CheckConfig,
        check_rows,
        load_retraining,
        retrain_subsets,
        save_retraining,
    )

    runtime = runtime_of(ctx)
    runtime.apply_threads()
    config = CheckConfig(subsets=subsets, fraction=fraction, epochs=epochs, lr=lr, bootstrap=bootstrap,
                         seed=runtime.seed_for(seed))
    recorder = Recorder("influence-check", {**config.to_dict(), "jobs": jobs}, config.seed,
                        {"checkpoint": checkpoint, "train": train, "pool": pool, "retraining": retraining,
                         **{f"scores_{i + 1}": s for i, s in enumerate(scores)}}, argv())
    split_table = load_molecules(train, "split")
    pool_table = load_molecules(pool, "pool")
    pool_ids = pool_table["mol_id"].to_list()
    values, setting = {}, {}
    for path in scores:
        table = read_table(path)
        require_columns(table, ["mol_id", "score"], f"scores table {path}")
        joined = pool_table.select("mol_id").join(table.select("mol_id", "score").unique("mol_id", keep="first"),
                                                  on="mol_id", how="left")
        missing = joined["score"].null_count()
        if missing:
            raise MolpeftError(f"{path}: {missing} of {len(pool_ids)} pool molecules have no score; score this "
                               "pool with `molpeft influence` first")
        values[path] = joined["score"].cast(pl.Float64).to_numpy()
        setting[path] = _scores_setting(path)

    def progress(done: int, loss: float) -> None:
        info(f"  subset {done}/{subsets}: validation loss {loss:.5f}" if done else
             f"  train only: validation loss {loss:.5f}")

    if retraining and Path(retraining).is_file():
        info(f"reusing the retraining recorded in {retraining}")
        measured = load_retraining(retraining, config, len(pool_ids))
    else:
        info(f"retraining from {checkpoint}: {subsets} subsets of {fraction:.0%} of {len(pool_ids)} pool "
             f"molecules, {epochs} epoch(s) each, plus the train-only reference")
        measured = retrain_subsets(checkpoint, split_table, pool_table, config, progress, jobs)
        if retraining:
            save_retraining(retraining, measured, config, checkpoint)

    rows = check_rows(measured, values, setting, config)
    table = pl.DataFrame(rows, schema={name: getattr(pl, dtype) for name, dtype in CHECK_COLUMNS.items()})
    for row in rows:
        info(f"LDS {row['lds']:+.3f} [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]  {row['scope']} "
             f"{row['solver']}  ({row['scores']})")
    write_table(table, output)
    recorder.write(output, extra={"retraining": {
        "start_loss": measured.start_loss, "base_loss": measured.base_loss,
        "measured_change": np.round(measured.measured, 8).tolist(), "n_train": measured.n_train,
        "seconds": measured.seconds, "subset_members": [np.flatnonzero(m).tolist() for m in measured.members],
        "record": retraining}})


def _scores_setting(path: str) -> dict:
    """The setting a scores table was made with, from its manifest (empty when there is none)."""
    from molpeft_cli.data.manifest import manifest_path

    manifest = manifest_path(path)
    if not manifest.is_file():
        return {}
    data = json.loads(manifest.read_text())
    params = data.get("params", {})
    summary = data.get("influence", {})
    ihvp = summary.get("ihvp", {})
    return {"params": params.get("params"), "solver": params.get("solver"), "damping": ihvp.get("damping"),
            "n_params": summary.get("n_params", 0), "converged": ihvp.get("converged", True)}


def register(app: typer.Typer) -> None:
    app.command("influence-check")(influence_check)
