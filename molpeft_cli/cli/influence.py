"""`molpeft influence`: estimated effect of adding each pool molecule on the validation loss (LiSSA, CG, exact)."""

from __future__ import annotations

from typing import Annotated

import typer


def influence(
    checkpoint: Annotated[str, typer.Argument(metavar="CKPT", help="Fine-tuned checkpoint directory.")],
    train: Annotated[str, typer.Option(help="Split table: its train split defines the Hessian, its valid split "
                                       "the target.")],
    pool: Annotated[str, typer.Option(help="Labelled pool table to score.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Scores table ('-' for stdout).")],
    target: Annotated[str, typer.Option(help="valid (default) or test (leaks the test set: warned and "
                                        "recorded).")] = "valid",
    params: Annotated[str, typer.Option(help="Parameter scope: trainable, head, last-N (e.g. last-1), all.")]
    = "trainable",
    solver: Annotated[str, typer.Option(help="lissa, cg or exact (dense; small scopes only).")] = "lissa",
    depth: Annotated[int, typer.Option(help="LiSSA iterations (one training minibatch each).")] = 200,
    damping: Annotated[float, typer.Option(help="Damping added to the Hessian.")] = 0.01,
    step: Annotated[str, typer.Option(help="LiSSA step (the seed's scale; needs step*(lambda_max+damping)<2), or "
                                      "'auto': 1/(estimated lambda_max + damping).")] = "0.04",
    repeats: Annotated[int, typer.Option(help="Independent LiSSA runs averaged.")] = 1,
    hvp: Annotated[str, typer.Option(help="double-backward or forward-over-reverse.")] = "double-backward",
    batch_size: Annotated[int, typer.Option(help="Molecules per minibatch.")] = 32,
    truncate: Annotated[bool, typer.Option(help="Cut over-long molecules instead of failing.")] = True,
    seed: Annotated[int | None, typer.Option(help="Seed for minibatch order (default: global --seed).")] = None,
) -> None:
    """Score pool molecules: score = grad L_valid^T (H + damping I)^-1 grad L(z); positive = helpful."""
    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.console import info
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.influence.job import pool_influence
    from molpeft_cli.influence.solvers import SolverConfig
    from molpeft_cli.settings import resolve_seed

    if target not in ("valid", "test"):
        raise MolpeftError(f"--target must be valid or test, got {target!r}")
    seed = resolve_seed(seed)
    try:
        step_value = None if step == "auto" else float(step)
    except ValueError:
        raise MolpeftError(f"--step must be a number or 'auto', got {step!r}") from None
    try:
        config = SolverConfig(solver=solver, damping=damping, step=step_value, depth=depth, repeats=repeats, hvp=hvp)
    except (TypeError, ValueError) as exc:
        raise MolpeftError(str(exc)) from None
    recorder = Recorder("influence", dict(target=target, params=params, solver=solver, depth=depth, damping=damping,
                                          step=step, repeats=repeats, hvp=hvp, batch_size=batch_size,
                                          truncate=truncate), seed,
                        {"checkpoint": checkpoint, "train": train, "pool": pool})
    split_table = load_molecules(train, "split")
    pool_table = load_molecules(pool, "pool")
    result = pool_influence(checkpoint, split_table, pool_table, target, params, config, batch_size, truncate,
                            seed)
    table = result.to_frame(pool_table["mol_id"].to_list())
    summary = result.summary()
    info(f"influence over {summary['n_params']:,} parameters ({params}), {solver}: "
         f"{summary['n_positive']} of {summary['n_pool']} pool molecules have positive scores (helpful)")
    write_table(table, output)
    recorder.write(output, extra={"target": target, "leakage": target == "test", "influence": summary})


def register(app: typer.Typer) -> None:
    app.command("influence")(influence)
