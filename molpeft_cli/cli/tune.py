"""`molpeft tune`: sweep a method's learning rate (and LoRA rank/alpha) on the validation split."""

from __future__ import annotations

from typing import Annotated

import typer

from molpeft_cli.cli.finetune import DEFAULT_MODEL


def tune(
    split_table: Annotated[str, typer.Argument(metavar="SPLIT", help="Split table (from `molpeft split`).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Sweep folder (created; reused to resume).")],
    peft: Annotated[str, typer.Option(help="full | bitfit | lora | ia3.")] = "full",
    model: Annotated[str, typer.Option(help="Bundled name, checkpoint directory, or hub id.")] = DEFAULT_MODEL,
    lr: Annotated[str | None, typer.Option(help="Comma-separated learning rates (default: the method's grid).")] = None,
    lora_rank: Annotated[str | None, typer.Option(help="Comma-separated LoRA ranks (default 8,16).")] = None,
    lora_alpha: Annotated[str | None, typer.Option(help="Comma-separated LoRA alphas (default rank and 2 rank).")
                          ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated training seeds per configuration.")] = "0",
    config: Annotated[str | None, typer.Option(help="TOML with the fixed fine-tuning options (as finetune's).")
                      ] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Maximum epochs per trial (default 20).")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience (default 3).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 64).")] = None,
    bf16: Annotated[bool | None, typer.Option("--bf16/--fp32", help="Train under bfloat16 autocast.")] = None,
    truncate: Annotated[bool | None, typer.Option("--truncate", help="Cut over-long molecules.")] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Trials at once, each in its own process (threads: --threads)."
                                      )] = 1,
) -> None:
    """Grid-search the recipe on the validation split; writes tune.md, results.parquet, trials.parquet, best.toml."""
    from molpeft_cli.cli.common import Recorder
    from molpeft_cli.console import info
    from molpeft_cli.settings import settings
    from molpeft_cli.training.options import load_options
    from molpeft_cli.tuning import grid_for, run_sweep
    from molpeft_cli.tuning.sweep import margin_text, write_outputs

    grid = grid_for(peft, _floats(lr, "lr"), _floats(lora_rank, "lora-rank", int),
                    _floats(lora_alpha, "lora-alpha"))
    base = load_options(config, dict(peft=peft, max_epochs=max_epochs, patience=patience, batch_size=batch_size,
                                     bf16=bf16, truncate=truncate))
    seed_list = _floats(seeds, "seeds", int)
    recorder = Recorder("tune", {"peft": peft, "grid": grid.as_dicts(), "seeds": seed_list, "model": model,
                                 "fixed": base.to_dict(), "jobs": jobs}, None,
                        {"split": split_table, "config": config})
    result = run_sweep(split_table, output, grid, base, model, seed_list, jobs, settings.threads)
    recorder.inputs["model"] = model
    write_outputs(result, grid, base, _manifest(recorder, result))
    info(f"winner: {', '.join(f'{k} {v:g}' for k, v in result.best.items())}; {margin_text(result.summary)}")
    info(f"wrote {output}/tune.md, results.parquet, trials.parquet and best.toml")


def _manifest(recorder, result) -> dict:
    from molpeft_cli.data.manifest import build_manifest

    return build_manifest(recorder.command, recorder.params, None, recorder.inputs, recorder.started,
                          {"best": result.best, "trials": result.trials.height})


def _floats(text: str | None, what: str, cast=float) -> list | None:
    from molpeft_cli.errors import MolpeftError

    if text is None:
        return None
    try:
        values = [cast(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise MolpeftError(f"--{what} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise MolpeftError(f"--{what} is empty")
    return values


def register(app: typer.Typer) -> None:
    app.command("tune")(tune)
