"""A second reference model: chemprop v2's D-MPNN (directed bond message passing), the model chemists use for
molecular property prediction, trained on the run's train split, its best validation epoch scored on the test split.

The architecture and schedule are chemprop's command-line defaults (bond messages, hidden size 300, depth 3, norm
aggregation, one FFN layer of 300, Noam-like learning rate 1e-4 -> 1e-3 -> 1e-4, batch 64, targets standardised);
only the number of epochs is ours to choose (`ReportOptions.chemprop_epochs`), because it sets the cost. For
classification the readout is chemprop's binary classifier (what `chemprop train --task-type classification` builds:
BCE on the logits, sigmoid probabilities out, targets not standardised). chemprop is an optional dependency
(`pip install 'molpeft[chemprop]'`); without it the report says so and goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import polars as pl

from molpeft_cli.errors import MolpeftError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION

CHEMPROP_NAME = "chemprop"


@dataclass(frozen=True)
class ChempropConfig:
    epochs: int = 50
    batch_size: int = 64
    hidden: int = 300
    depth: int = 3

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise MolpeftError(f"the chemprop baseline needs at least one epoch, got {self.epochs}")


def chemprop_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("chemprop") is not None and importlib.util.find_spec("lightning") is not None


def fit_chemprop(split: pl.DataFrame, seed: int, config: ChempropConfig, task: str = REGRESSION
                 ) -> tuple[dict, pl.DataFrame]:
    """Train on the labelled train rows (best epoch by validation loss), predict the test rows (for
    classification: the probability of class 1)."""
    import warnings

    import torch
    from chemprop import data, featurizers, models, nn
    from lightning import pytorch as lightning

    from molpeft_cli.report.baseline import baseline_metrics

    labelled = split.filter(pl.col("label").is_not_null())
    train, valid, test = (labelled.filter(pl.col("split") == name) for name in ("train", "valid", "test"))
    if train.height < 2 or valid.height == 0 or test.height == 0:
        raise MolpeftError(f"chemprop baseline: the split table has {train.height} train, {valid.height} valid and "
                           f"{test.height} test labelled rows")
    featurizer = featurizers.SimpleMoleculeMolGraphFeaturizer()

    def dataset(table: pl.DataFrame):
        points = [data.MoleculeDatapoint.from_smi(s, np.array([y], dtype=float))
                  for s, y in zip(table["smiles_canonical"].to_list(), table["label"].to_list(), strict=True)]
        return data.MoleculeDataset(points, featurizer)

    torch.manual_seed(seed)
    train_set, valid_set, test_set = dataset(train), dataset(valid), dataset(test)
    classify = task == CLASSIFICATION
    if classify:
        readout = nn.BinaryClassificationFFN(input_dim=config.hidden, hidden_dim=300, n_layers=1)
    else:
        scaler = train_set.normalize_targets()
        valid_set.normalize_targets(scaler)
        readout = nn.RegressionFFN(input_dim=config.hidden, hidden_dim=300, n_layers=1,
                                   output_transform=nn.UnscaleTransform.from_standard_scaler(scaler))
    model = models.MPNN(
        nn.BondMessagePassing(featurizer.atom_fdim, featurizer.bond_fdim, d_h=config.hidden, depth=config.depth),
        nn.NormAggregation(norm=100.0),
        readout,
    )
    loaders = [data.build_dataloader(s, batch_size=config.batch_size, num_workers=0, seed=seed, shuffle=shuffle)
               for s, shuffle in ((train_set, True), (valid_set, False), (test_set, False))]
    import logging

    for name in ("lightning.pytorch", "lightning.fabric"):  # its INFO lines (GPU available..., tips) are noise here
        logging.getLogger(name).setLevel(logging.WARNING)
    best = _BestState(lightning.Callback)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lightning's advice on workers and loggers
        trainer = lightning.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                                    enable_checkpointing=False, accelerator="cpu", devices=1,
                                    max_epochs=config.epochs, callbacks=[best], deterministic=True)
        trainer.fit(model, loaders[0], loaders[1])
        model.load_state_dict(best.state)
        seconds = time.perf_counter() - started
        predicted = trainer.predict(model, loaders[2])
    prediction = torch.cat([p.reshape(-1) for p in predicted]).double().numpy()
    predictions = test.select("mol_id", "split", "label").with_columns(pl.Series("prediction", prediction))
    if classify:
        predictions = predictions.with_columns(pl.col("prediction").alias("probability"))
    row = {"run": f"{CHEMPROP_NAME}-s{seed}", "split": "test",
           **baseline_metrics(task, test["label"].to_numpy(), prediction),
           "trainable_params": sum(p.numel() for p in model.parameters()), "total_params": None,
           "train_seconds": seconds, "seed": seed, "peft": CHEMPROP_NAME, "selection": "none",
           "model": "chemprop-dmpnn", "variant": "baseline"}
    if classify:
        row["task"] = task
    return row, predictions


def _BestState(base):  # noqa: N802 (a class factory: lightning is imported lazily)
    """A lightning callback keeping, in memory, the weights of the epoch with the lowest validation loss."""

    class BestState(base):
        def __init__(self) -> None:
            self.best, self.state = float("inf"), None

        def on_validation_end(self, trainer, module) -> None:
            if trainer.sanity_checking:
                return
            loss = float(trainer.callback_metrics["val_loss"])
            if loss < self.best or self.state is None:
                self.best = loss
                self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}

    return BestState()
