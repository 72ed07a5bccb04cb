"""Binary classification through fine-tuning, eval, predict and tune, on the tiny model and Lipophilicity labelled
active at exp >= 2.5 (37 of 80 training molecules): the loss and the metrics against independent references, every
adapter, early stopping on either metric, the refusals of the other task's checkpoints and labels."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
import torch

from molpeft_cli.tasks import METRICS
from tests.conftest import assert_one_line_error, invoke

METHODS = ["full", "bitfit", "lora", "ia3"]
THRESHOLD = 2.5


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield


@pytest.fixture(scope="session")
def binary_split(lipo_split_small, tmp_path_factory):
    """The small Lipophilicity split with label = 1.0 where exp >= 2.5, else 0.0."""
    table = pl.read_parquet(lipo_split_small)
    table = table.with_columns((pl.col("label") >= THRESHOLD).cast(pl.Float64).alias("label"))
    path = tmp_path_factory.mktemp("binary") / "split.parquet"
    table.write_parquet(path)
    return path


@pytest.fixture(scope="session")
def classifier(binary_split, tiny_base, tmp_path_factory):
    """A full fine-tuned classification checkpoint (2 epochs)."""
    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.options import FinetuneOptions

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cls") / "ck"
    run_finetune(str(binary_split), str(out), FinetuneOptions(peft="full", max_epochs=2, batch_size=32, lr=5e-3),
                 str(tiny_base), [], seed=0)
    return out


@pytest.fixture(scope="session")
def regressor(lipo_split_small, tiny_base, tmp_path_factory):
    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.options import FinetuneOptions

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reg") / "ck"
    run_finetune(str(lipo_split_small), str(out), FinetuneOptions(peft="bitfit", max_epochs=1, batch_size=32),
                 str(tiny_base), [], seed=0)
    return out


# -- the loss --------------------------------------------------------------------------------------------------
def test_bce_loss_equals_torch_and_a_hand_computation():
    from molpeft_cli.model.heads import binary_classification_loss, regression_loss, task_loss

    logits = torch.tensor([[0.3], [-1.2], [2.0], [0.0]])
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    x, y = logits.squeeze(-1).double().tolist(), labels.double().tolist()
    for weight in (None, 2.5):
        w = 1.0 if weight is None else weight
        hand = [-(w * t * math.log(1 / (1 + math.exp(-v))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-v))))
                for v, t in zip(x, y, strict=True)]
        rows = binary_classification_loss(logits, labels, pos_weight=weight, reduction="none")
        assert rows.tolist() == pytest.approx(hand, rel=1e-6)
        assert binary_classification_loss(logits, labels, weight).item() == pytest.approx(np.mean(hand), rel=1e-6)
        reference = torch.nn.BCEWithLogitsLoss(pos_weight=None if weight is None else torch.tensor(weight))
        expected = reference(logits.squeeze(-1), labels)
        assert torch.allclose(binary_classification_loss(logits, labels, weight), expected)
        assert torch.allclose(task_loss("classification", weight)(logits, labels), expected)
    half = binary_classification_loss(logits.to(torch.bfloat16), labels)
    assert half.dtype == torch.float32  # autocast outputs are scored in float32
    assert task_loss("regression") is regression_loss
    with pytest.raises(ValueError):
        task_loss("regression", 2.0)


def test_pos_weight_auto_is_negatives_over_positives():
    from molpeft_cli.training.options import FinetuneOptions

    labels = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert FinetuneOptions(task="classification", pos_weight="auto").pos_weight_for(labels) == pytest.approx(5 / 2)
    assert FinetuneOptions(task="classification", pos_weight="3").pos_weight_for(labels) == 3.0
    assert FinetuneOptions(task="classification").pos_weight_for(labels) == 1.0
    assert FinetuneOptions().for_task("regression").pos_weight_for([1.5, 2.0]) is None


def test_task_settings_are_recorded_for_classification_only():
    from molpeft_cli.errors import SettingError
    from molpeft_cli.training.options import TASK_SETTINGS, FinetuneOptions

    assert not set(TASK_SETTINGS) & set(FinetuneOptions().for_task("regression").to_dict())
    recorded = FinetuneOptions(pos_weight="auto").for_task("classification").to_dict()
    assert (recorded["task"], recorded["pos_weight"], recorded["stop_metric"]) == ("classification", "auto",
                                                                                    "log_loss")
    for bad in ({"task": "regression", "pos_weight": "2"}, {"task": "regression", "stop_metric": "roc_auc"},
                {"task": "classification", "stop_metric": "mse"}, {"pos_weight": "-1"}, {"stop_metric": "auc"}):
        with pytest.raises(SettingError):
            FinetuneOptions(**bad)


# -- the metrics -----------------------------------------------------------------------------------------------
def test_classification_metrics_equal_sklearn():
    from sklearn import metrics as sk

    from molpeft_cli.training.metrics import classification_metrics, task_metrics

    rng = np.random.default_rng(0)
    for n, rounding in ((50, 2), (200, 1), (7, 3)):  # coarse rounding makes tied scores
        y = rng.integers(0, 2, n).astype(float)
        y[:2] = (0.0, 1.0)
        p = np.round(np.clip(0.3 * y + 0.7 * rng.random(n), 0, 1), rounding)
        got = classification_metrics(y, p)
        assert tuple(got) == METRICS["classification"]
        called = (p >= 0.5).astype(float)
        assert got["n"] == n and got["n_positive"] == int(y.sum())
        assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y, p), rel=1e-12)
        assert got["pr_auc"] == pytest.approx(sk.average_precision_score(y, p), rel=1e-12)
        assert got["log_loss"] == pytest.approx(sk.log_loss(y, p), rel=1e-12)
        assert got["brier"] == pytest.approx(sk.brier_score_loss(y, p), rel=1e-12)
        assert got["accuracy"] == pytest.approx(sk.accuracy_score(y, called), rel=1e-12)
        assert got["balanced_accuracy"] == pytest.approx(sk.balanced_accuracy_score(y, called), rel=1e-12)
        assert task_metrics("classification", y, p) == got
    one_class = classification_metrics([0.0, 0.0, 0.0], [0.1, 0.6, 0.2])
    assert all(math.isnan(one_class[k]) for k in ("roc_auc", "pr_auc", "balanced_accuracy"))
    assert one_class["accuracy"] == pytest.approx(2 / 3) and one_class["n_positive"] == 0
    empty = classification_metrics([], [])
    assert empty["n"] == 0 and math.isnan(empty["roc_auc"]) and math.isnan(empty["log_loss"])
    assert tuple(task_metrics("regression", [1.0, 2.0], [1.0, 2.5])) == METRICS["regression"]
    with pytest.raises(ValueError):
        classification_metrics([0.0, 2.0], [0.1, 0.2])


def test_early_stopping_can_watch_a_higher_is_better_score():
    from molpeft_cli.training.loop import EarlyStopping

    stopping = EarlyStopping(2, higher_is_better=True)
    improved = [stopping.update(v, step) for step, v in enumerate([0.6, 0.7, 0.65, 0.72, 0.7, 0.71], start=1)]
    assert improved == [True, True, False, True, False, False]
    assert (stopping.best, stopping.best_step, stopping.should_stop()) == (0.72, 4, True)
    lower = EarlyStopping(2)  # the default: lower is better, as regression's MSE
    assert [lower.update(v, s) for s, v in enumerate([0.6, 0.7, 0.5], start=1)] == [True, False, True]


# -- fine-tuning -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_every_adapter_fine_tunes_for_classification(binary_split, tiny_base, tmp_path, method):
    from scipy.special import expit

    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.options import FinetuneOptions
    from molpeft_cli.training.prediction import predict_molecules
    from molpeft_cli.training.regression import encode, predict_encoded

    out = tmp_path / "ck"
    result = run_finetune(str(binary_split), str(out), FinetuneOptions(peft=method, max_epochs=2, batch_size=32,
                                                                       lr=5e-3, pos_weight="auto"),
                          str(tiny_base), [], seed=0)
    meta = json.loads((out / "finetune.json").read_text())
    assert meta["task"] == "classification" and meta["label_scaling"] == {"mean": 0.0, "std": 1.0}
    assert meta["best_valid_mse"] is None and meta["stop_metric"] == "log_loss"
    assert meta["class_balance"]["train"] == {"positive": 37, "negative": 43}
    assert meta["class_balance"]["valid"] == {"positive": 7, "negative": 13}
    assert meta["class_balance"]["pos_weight"] == pytest.approx(43 / 37)
    assert meta["options"]["task"] == "classification" and meta["options"]["pos_weight"] == "auto"
    log = pl.read_parquet(out / "training_log.parquet")
    assert log.columns == ["epoch", "train_loss", "valid_log_loss", "valid_roc_auc", "lr", "seconds"]
    assert meta["best_valid_value"] == log["valid_log_loss"].min()
    assert log["valid_log_loss"][meta["best_epoch"] - 1] == log["valid_log_loss"].min()
    assert result.meta["task"] == "classification" and result.log.equals(log)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["task"] == "classification" and manifest["result"]["task"] == "classification"

    ft = load_finetuned(out)
    assert ft.task == "classification"
    smiles = pl.read_parquet(binary_split).filter(pl.col("split") == "test")["smiles_canonical"].to_list()
    probabilities = predict_molecules(ft, smiles)
    assert ((probabilities >= 0) & (probabilities <= 1)).all() and np.ptp(probabilities) > 0
    raw = predict_encoded(ft.model, encode(ft.tokenizer, smiles, truncate=False).input_ids, ft.tokenizer.pad_token_id)
    np.testing.assert_allclose(probabilities, expit(raw), rtol=1e-12)  # the one conversion: sigmoid of the logit


def test_early_stopping_on_roc_auc_keeps_the_highest_epoch(binary_split, tiny_base, tmp_path):
    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.options import FinetuneOptions

    out = tmp_path / "ck"
    run_finetune(str(binary_split), str(out), FinetuneOptions(peft="bitfit", max_epochs=4, patience=4,
                                                              batch_size=16, lr=1e-2, stop_metric="roc_auc"),
                 str(tiny_base), [], seed=0)
    meta = json.loads((out / "finetune.json").read_text())
    log = pl.read_parquet(out / "training_log.parquet")
    auc = log["valid_roc_auc"].to_list()
    assert log.height == 4 and meta["stop_metric"] == "roc_auc"
    assert meta["best_epoch"] == 1 + auc.index(max(auc))  # the first epoch of the highest ROC-AUC
    assert meta["best_valid_value"] == max(auc)
    loss = log["valid_log_loss"].to_list()
    assert meta["best_epoch"] != 1 + loss.index(min(loss))  # on this data the log loss would choose another epoch


def test_two_gloo_processes_match_one_process_for_classification(runner, tmp_path, tiny_base, binary_split):
    from tests.conftest import run_one_and_two_processes

    args = ["finetune", str(binary_split), "--model", str(tiny_base), "--peft", "full", "--seed", "0",
            "--max-epochs", "2", "--patience", "2", "--batch-size", "16", "--pos-weight", "auto",
            "--hidden-dropout", "0", "--embedding-dropout", "0", "--classifier-dropout", "0"]
    one, two = run_one_and_two_processes(runner, args, tmp_path)
    logs = [pl.read_parquet(d / "training_log.parquet") for d in (one, two)]
    for column in ("train_loss", "valid_log_loss", "valid_roc_auc"):  # float32 summation order aside (1e-6)
        np.testing.assert_allclose(logs[1][column].to_numpy(), logs[0][column].to_numpy(), rtol=1e-6, err_msg=column)
    metas = [json.loads((d / "finetune.json").read_text()) for d in (one, two)]
    assert metas[1]["task"] == "classification" and metas[1]["distributed"]["world_size"] == 2
    assert metas[0]["class_balance"] == metas[1]["class_balance"]


def test_classification_refusals(runner, binary_split, lipo_split_small, tiny_base, classifier, regressor, tmp_path):
    base = ["--model", str(tiny_base), "--max-epochs", "1"]
    # continuous labels are not a classification set
    assert_one_line_error(invoke(runner, ["finetune", str(lipo_split_small), *base, "--task", "classification",
                                          "-o", str(tmp_path / "a")]), "--task classification needs labels 0 and 1")
    assert_one_line_error(invoke(runner, ["finetune", str(lipo_split_small), *base, "--pos-weight", "2",
                                          "-o", str(tmp_path / "b")]), "--pos-weight applies to classification")
    assert_one_line_error(invoke(runner, ["finetune", str(binary_split), *base, "--stop-metric", "mse",
                                          "-o", str(tmp_path / "c")]), "--stop-metric mse does not apply")
    # a fine-tuned checkpoint of the other task as the base model
    assert_one_line_error(invoke(runner, ["finetune", str(lipo_split_small), "--model", str(classifier),
                                          "--max-epochs", "1", "-o", str(tmp_path / "d")]),
                          f"--model {classifier} is a fine-tuned classification checkpoint")
    assert_one_line_error(invoke(runner, ["finetune", str(binary_split), "--model", str(regressor),
                                          "--max-epochs", "1", "-o", str(tmp_path / "e")]),
                          "is a fine-tuned regression checkpoint")
    # eval: a checkpoint of the other task than the data's labels
    assert_one_line_error(invoke(runner, ["eval", str(classifier), str(lipo_split_small), "-o",
                                          str(tmp_path / "p.parquet")]), "is a classification checkpoint")
    assert_one_line_error(invoke(runner, ["eval", str(regressor), str(binary_split), "-o",
                                          str(tmp_path / "p.parquet")]), "is a regression checkpoint")
    # extras of continuous labels would silently turn a 0/1 training set into regression
    from molpeft_cli.data.molecules import build_molecule_table

    pool = build_molecule_table(pl.DataFrame({"id": ["x1", "x2"], "smiles": ["CCOc1ccccc1", "CCCCN"],
                                              "label": [1.7, 3.2]}), source="pool").molecules
    extra = tmp_path / "extra.parquet"
    pool.with_columns(pl.lit("random").alias("strategy")).write_parquet(extra)
    assert_one_line_error(invoke(runner, ["finetune", str(binary_split), *base, "--extra", str(extra), "-o",
                                          str(tmp_path / "f")]), "the --extra molecules' are not")
    assert not any((tmp_path / name).exists() for name in ("a", "b", "c", "d", "e", "f", "p.parquet"))


def test_eval_and_predict_of_a_classification_checkpoint(runner, binary_split, classifier, tmp_path):
    from sklearn.metrics import roc_auc_score

    preds, metrics = tmp_path / "pred.parquet", tmp_path / "metrics.parquet"
    result = invoke(runner, ["eval", str(classifier), str(binary_split), "-o", str(preds), "--metrics", str(metrics)])
    assert result.exit_code == 0, result.output
    assert "ROC-AUC" in result.stderr and "log loss" in result.stderr
    row = json.loads(result.stdout.strip().splitlines()[-1])
    table = pl.read_parquet(metrics)
    regression_only = set(METRICS["regression"]) - set(METRICS["classification"])
    assert not regression_only & set(table.columns)  # absent, not NaN
    assert [c for c in table.columns if c in {*METRICS["classification"], *METRICS["regression"]}] == list(
        METRICS["classification"])
    assert table.columns[:3] == ["run", "split", "task"] and row["task"] == "classification"
    predictions = pl.read_parquet(preds)
    assert predictions.columns == ["mol_id", "split", "label", "probability", "prediction"]
    assert predictions["probability"].equals(predictions["prediction"], check_names=False)
    assert predictions["probability"].is_between(0, 1).all() and row["n"] == 20 and row["n_positive"] == 10
    assert row["roc_auc"] == pytest.approx(roc_auc_score(predictions["label"], predictions["probability"]))

    result = invoke(runner, ["predict", str(classifier), "CCO", "not_a_smiles", "c1ccccc1O"])
    assert result.exit_code == 0, result.output
    out = pl.read_csv(result.stdout.encode())
    assert out.columns == ["smiles", "smiles_canonical", "prediction", "probability", "error", "truncated"]
    assert out["probability"].null_count() == 1 and out["probability"].drop_nulls().is_between(0, 1).all()


@pytest.mark.parametrize("which", ["classifier", "regressor"])
def test_predict_input_table_keeps_its_other_columns(runner, request, tmp_path, which):
    ckpt = request.getfixturevalue(which)
    source = tmp_path / "in.csv"
    pl.DataFrame({"Compound ID": ["a1", "a2", "a3"], "SMILES": ["CCO", "xx", "c1ccncc1"],
                  "name": ["ethanol", "junk", "pyridine"], "prediction": [9.0, 9.0, 9.0]}).write_csv(source)
    result = invoke(runner, ["predict", str(ckpt), "CCN", "-i", str(source)])
    assert result.exit_code == 0, result.output
    out = pl.read_csv(result.stdout.encode())
    assert out.columns[:3] == ["Compound ID", "name", "prediction_input"]
    assert out["Compound ID"].to_list() == [None, "a1", "a2", "a3"]  # the argument's SMILES comes first
    assert out["smiles"].to_list() == ["CCN", "CCO", "xx", "c1ccncc1"]
    assert out["prediction"].null_count() == 1 and out["error"][2] is not None
    assert ("probability" in out.columns) == (which == "classifier")
    smi = tmp_path / "in.smi"  # a plain SMILES file adds no columns
    smi.write_text("CCO\nc1ccncc1\n")
    plain = pl.read_csv(invoke(runner, ["predict", str(ckpt), "-i", str(smi)]).stdout.encode())
    assert plain.columns[0] == "smiles"


# -- tune ------------------------------------------------------------------------------------------------------
def test_tune_on_classification_ranks_by_validation_log_loss(runner, binary_split, tiny_base, tmp_path):
    import tomllib

    out = tmp_path / "sweep"
    args = ["--threads", "1", "tune", str(binary_split), "--model", str(tiny_base), "--peft", "bitfit",
            "--grid-lr", "1e-3,3e-2", "--max-epochs", "2", "--patience", "1", "--batch-size", "32", "-o", str(out)]
    result = invoke(runner, args)
    assert result.exit_code == 0, result.output
    trials, summary = pl.read_parquet(out / "trials.parquet"), pl.read_parquet(out / "results.parquet")
    assert "valid_log_loss" in trials.columns and "valid_mse" not in trials.columns
    assert summary["valid_log_loss_mean"].is_sorted() and summary["valid_log_loss_mean"][0] == trials[
        "valid_log_loss"].min()
    for record in (out / "trials").iterdir():  # each trial's score is its log loss at the chosen epoch
        trial = json.loads(record.read_text())
        assert trial["valid_log_loss"] == trial["log"][trial["best_epoch"] - 1]["valid_log_loss"]
    assert "valid log loss" in (out / "tune.md").read_text()
    best = tomllib.loads((out / "best.toml").read_text())["finetune"]
    assert best["task"] == "classification" and best["stop_metric"] == "log_loss"
    assert json.loads((out / "manifest.json").read_text())["params"]["task"] == "classification"
    ckpt = tmp_path / "ck"
    result = invoke(runner, ["--threads", "1", "finetune", str(binary_split), "--model", str(tiny_base), "--config",
                             str(out / "best.toml"), "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert json.loads((ckpt / "finetune.json").read_text())["best_valid_value"] == pytest.approx(
        summary["valid_log_loss_mean"][0], rel=1e-12)
