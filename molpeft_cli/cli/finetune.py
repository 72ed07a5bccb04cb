"""`molpeft finetune`: stage-2 supervised fine-tuning with full, BitFit, LoRA or (IA)3."""

from __future__ import annotations

from typing import Annotated

import typer

DEFAULT_MODEL = "molformer-mini"


def finetune(
    split_table: Annotated[str, typer.Argument(metavar="SPLIT", help="Split table (from `molpeft split`).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Checkpoint directory to write.")],
    peft: Annotated[str | None, typer.Option(help="full | bitfit | lora | ia3 (default full).")] = None,
    model: Annotated[str, typer.Option(help="Bundled name, checkpoint directory, or hub id.")] = DEFAULT_MODEL,
    extra: Annotated[list[str] | None, typer.Option(help="Selection table(s) whose molecules join training.")] = None,
    config: Annotated[str | None, typer.Option(help="TOML file with the same fields as these flags.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default 1e-4 full/LoRA, 1e-3 BitFit/(IA)3).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 64).")] = None,
    max_epochs: Annotated[int | None, typer.Option(help="Maximum epochs (default 20).")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience in epochs (default 3).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (default 0.01).")] = None,
    classifier_dropout: Annotated[float | None, typer.Option(help="Head dropout (0.5; BitFit 0.2).")] = None,
    embedding_dropout: Annotated[float | None, typer.Option(help="Embedding dropout (default 0.2).")] = None,
    hidden_dropout: Annotated[float | None, typer.Option(help="Hidden dropout (default 0.2).")] = None,
    lora_rank: Annotated[int | None, typer.Option(help="LoRA rank (default 8).")] = None,
    lora_alpha: Annotated[float | None, typer.Option(help="LoRA alpha (default 16).")] = None,
    lora_dropout: Annotated[float | None, typer.Option(help="LoRA dropout (default 0).")] = None,
    grad_clip: Annotated[float | None, typer.Option(help="Gradient-norm clip, 0 = off (default 1).")] = None,
    truncate: Annotated[bool | None, typer.Option("--truncate", help="Cut molecules longer than the model's "
                                                  "positions (counted and recorded) instead of failing.")] = None,
    bf16: Annotated[bool | None, typer.Option("--bf16/--fp32", help="Train under bfloat16 autocast (several "
                                              "times faster on CPU; evaluation stays float32).")] = None,
    drop_leaking: Annotated[bool, typer.Option(help="Drop --extra molecules that are valid/test compounds "
                                               "(with a warning) instead of failing.")] = False,
    seed: Annotated[int | None, typer.Option(help="Training seed (default: the global --seed).")] = None,
) -> None:
    """Fine-tune the regression model on the train split (plus --extra molecules); early stopping on valid."""
    from molpeft_cli.training.finetune_job import run_finetune
    from molpeft_cli.training.options import load_options

    overrides = dict(peft=peft, lr=lr, batch_size=batch_size, max_epochs=max_epochs, patience=patience,
                     weight_decay=weight_decay, classifier_dropout=classifier_dropout,
                     embedding_dropout=embedding_dropout, hidden_dropout=hidden_dropout, lora_rank=lora_rank,
                     lora_alpha=lora_alpha, lora_dropout=lora_dropout, grad_clip=grad_clip, truncate=truncate,
                     bf16=bf16)
    options = load_options(config, overrides)
    run_finetune(split_table, output, options, model, extra or [], seed, drop_leaking, config_file=config)


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
