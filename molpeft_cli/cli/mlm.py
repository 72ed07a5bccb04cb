"""`molpeft mlm`: stage-1 masked-language-model training of MoLFormer on SMILES (a table's train split, or a SMILES
file), optionally with the RDKit-descriptor objective; writes a checkpoint directory that `finetune` can load."""

from __future__ import annotations

import typer

from molpeft_cli.cli.options import argv, runtime_of, step_command
from molpeft_cli.steps.mlm import PretrainConfig


def register(app: typer.Typer) -> None:
    def handle(ctx: typer.Context, config: PretrainConfig) -> None:
        from molpeft_cli.console import progress_factory
        from molpeft_cli.steps.mlm import pretrain_mlm

        pretrain_mlm(config, runtime_of(ctx), argv(), progress=progress_factory())

    step_command(app, "mlm", PretrainConfig, handle, "Masked-language-model training (stage 1) on SMILES; writes "
                 "a checkpoint directory with its training log.")
