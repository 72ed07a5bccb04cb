"""End to end through the CLI: finetune -> eval -> predict for every method, and the errors users meet."""

from __future__ import annotations

import json

import polars as pl
import pytest

from tests.conftest import assert_one_line_error, invoke


@pytest.mark.parametrize("method", ["full", "bitfit", "lora", "ia3"])
def test_finetune_eval_predict(runner, tiny_base, lipo_split_small, tmp_path, method):
    ckpt, preds, metrics = tmp_path / "ck", tmp_path / "pred.parquet", tmp_path / "metrics.parquet"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--peft", method,
                             "--max-epochs", "2", "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert "trainable of" in result.stderr
    log = pl.read_parquet(ckpt / "training_log.parquet")
    assert log.columns == ["epoch", "train_loss", "valid_mse", "valid_mae", "lr", "seconds"] and log.height >= 1
    result = invoke(runner, ["eval", str(ckpt), str(lipo_split_small), "-o", str(preds), "--metrics", str(metrics)])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["n"] == 20 and row["peft"] == method and row["selection"] == "none"
    assert set(pl.read_parquet(preds).columns) == {"mol_id", "split", "label", "prediction"}
    table = pl.read_parquet(metrics)
    assert table.height == 1 and table["trainable_params"][0] == row["trainable_params"] > 0
    result = invoke(runner, ["predict", str(ckpt), "CCO", "not_a_smiles", "c1ccccc1O"])
    assert result.exit_code == 0, result.output
    out = pl.read_csv(result.stdout.encode())
    assert out["prediction"].null_count() == 1 and out["error"][1].startswith("invalid SMILES")
    assert_one_line_error(invoke(runner, ["predict", str(ckpt), "CCO", "xx", "--strict"]), "--strict")


def test_predict_reads_stdin_and_files(runner, tiny_base, lipo_split_small, tmp_path):
    ckpt = tmp_path / "ck"
    invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "bitfit",
                    "--max-epochs", "1", "-o", str(ckpt)])
    result = invoke(runner, ["predict", str(ckpt), "-"], input="CCO\nCCN\n")
    assert result.exit_code == 0 and pl.read_csv(result.stdout.encode()).height == 2
    smi = tmp_path / "in.smi"
    smi.write_text("CCO\nc1ccncc1\n")
    result = invoke(runner, ["predict", str(ckpt), "-i", str(smi), "-o", str(tmp_path / "p.parquet")])
    assert result.exit_code == 0 and pl.read_parquet(tmp_path / "p.parquet").height == 2


def test_extra_molecules_join_training_and_leaks_are_refused(runner, tiny_base, lipo_split_small, tmp_path):
    split = pl.read_parquet(lipo_split_small)
    test_row = split.filter(pl.col("split") == "test").head(1)
    from molpeft_cli.data.molecules import build_molecule_table

    extra = build_molecule_table(pl.DataFrame({"id": ["x1", "x2"], "smiles": ["CCOc1ccccc1", "CCCCN"],
                                               "label": [1.0, 2.0]}), source="pool").molecules
    extra = extra.with_columns(pl.lit("random").alias("strategy"))
    clean, leaky = tmp_path / "clean.parquet", tmp_path / "leaky.parquet"
    extra.write_parquet(clean)
    pl.concat([extra, test_row.select(extra.columns[:-1]).with_columns(pl.lit("random").alias("strategy"))],
              how="vertical_relaxed").write_parquet(leaky)
    ckpt = tmp_path / "ck"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "ia3",
                             "--max-epochs", "1", "--extra", str(clean), "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    meta = json.loads((ckpt / "finetune.json").read_text())
    assert meta["n_extra"] == 2 and meta["selection"] == "random"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--extra", str(leaky),
                             "-o", str(tmp_path / "ck2")])
    assert_one_line_error(result, "valid/test compounds")
    assert not (tmp_path / "ck2").exists()


def test_config_file_gives_the_same_fields(runner, tiny_base, lipo_split_small, tmp_path):
    cfg = tmp_path / "ft.toml"
    cfg.write_text('[finetune]\npeft = "lora"\nlora_rank = 4\nmax_epochs = 1\n')
    ckpt = tmp_path / "ck"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--config", str(cfg),
                             "--lora-alpha", "8", "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    options = json.loads((ckpt / "finetune.json").read_text())["options"]
    assert (options["peft"], options["lora_rank"], options["lora_alpha"], options["lr"]) == (
        "lora", 4, 8.0, 1e-3)  # lr: the tuned LoRA default (issue 11; was 1e-4)
    cfg.write_text('[finetune]\nlearning_rate = 1\n')
    assert_one_line_error(invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base),
                                          "--config", str(cfg), "-o", str(tmp_path / "x")]), "unknown fields")


@pytest.mark.parametrize("args,needle", [
    (["--peft", "prefix"], "unknown --peft"),
    (["--model", "/no/such/model"], "no checkpoint directory"),
    (["--classifier-dropout", "1.5"], "must be in [0, 1)"),
])
def test_finetune_bad_options(runner, tiny_base, lipo_split_small, tmp_path, args, needle):
    base = ["finetune", str(lipo_split_small), "-o", str(tmp_path / "ck")]
    if "--model" not in args:
        base += ["--model", str(tiny_base)]
    assert_one_line_error(invoke(runner, base + args), needle)


def test_eval_bad_inputs(runner, lipo_split_small, tmp_path):
    assert_one_line_error(invoke(runner, ["eval", str(tmp_path / "none"), str(lipo_split_small), "-o", "-"]),
                          "not found")
    (tmp_path / "notckpt").mkdir()
    assert_one_line_error(invoke(runner, ["eval", str(tmp_path / "notckpt"), str(lipo_split_small), "-o", "-"]),
                          "not a fine-tuned checkpoint")
