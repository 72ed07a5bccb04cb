"""`finetune --features`: molecule features beside the pooled embedding in the regression head, standardised on the
training split, stored with the checkpoint and recomputed wherever the model predicts (eval, predict, MC dropout,
influence, influence-check, tune)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from molpeft_cli.training.options import FinetuneOptions
from tests.conftest import assert_one_line_error, invoke

SMILES = ["CCO", "c1ccccc1CC(=O)N", "CN1CCN(CC1)c1ccccc1Cl", "OC(=O)c1ccccc1O", "CCCCCCCCCC"]


def test_standardisation_clipping_and_non_finite_values():
    from rdkit import Chem
    from rdkit.Chem import Crippen

    from molpeft_cli.chem.features import CLIP, MoleculeFeatures, morgan_counts, rdkit2d, rdkit2d_names

    raw = rdkit2d(SMILES)
    logp = rdkit2d_names().index("MolLogP")
    assert np.allclose(raw[:, logp], [Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in SMILES])
    counts = morgan_counts(SMILES)
    assert counts.shape == (5, 2048) and counts[0].sum() > 0 and np.all(counts == np.round(counts))

    fitted = MoleculeFeatures.fit(["rdkit2d"], SMILES[:4])
    assert fitted.dim == raw.shape[1] and fitted.names[logp] == "rdkit2d:MolLogP"
    z = fitted.transform(SMILES)
    assert z.dtype == np.float32
    expected = (raw[:, logp] - raw[:4, logp].mean()) / raw[:4, logp].std()
    assert np.allclose(z[:, logp], np.clip(expected, -CLIP, CLIP), atol=1e-5)
    assert np.allclose(z[:4].mean(axis=0)[np.std(raw[:4], axis=0) > 0], 0, atol=1e-5)  # train columns centred
    assert np.all(np.abs(z) <= CLIP)

    values = np.array([[1.0, np.nan], [3.0, np.inf], [5.0, 2.0]])
    stats = MoleculeFeatures.from_values(("rdkit2d",), np.zeros((2, fitted.dim)))  # constant columns: sd 1
    assert np.all(stats.std == 1.0)
    manual = MoleculeFeatures(("x",), ["a", "b"], np.array([3.0, 2.0]), np.array([1.0, 1.0]))
    out = manual.standardise(values)
    assert out.tolist() == [[-2.0, 0.0], [0.0, 0.0], [2.0, 0.0]]  # non-finite -> the training mean


def test_the_head_takes_exactly_its_features():
    import molpeft_cli.model as M

    config = M.named_config("tiny", vocab_size=40, extra_features=3)
    model = M.MolformerForRegression(config).eval()
    assert model.regressor.out_proj.weight.shape == (1, config.hidden_size + 3)
    ids = torch.tensor([[0, 5, 6, 1]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, features=torch.tensor([[0.5, -1.0, 2.0]]))
        pooled = model(input_ids=ids, attention_mask=mask, features=torch.zeros(1, 3)).pooled_output
    w, b = model.regressor.out_proj.weight[0], model.regressor.out_proj.bias
    manual = pooled[0] @ w[: config.hidden_size] + torch.tensor([0.5, -1.0, 2.0]) @ w[config.hidden_size:] + b
    assert torch.allclose(out.logits[0], manual, atol=1e-6)
    with pytest.raises(ValueError, match="takes 3 molecule features"):
        model(input_ids=ids, attention_mask=mask)
    plain = M.MolformerForRegression(M.named_config("tiny", vocab_size=40)).eval()
    with pytest.raises(ValueError, match="takes no molecule features"):
        plain(input_ids=ids, attention_mask=mask, features=torch.zeros(1, 3))


@pytest.mark.parametrize("method", ["lora", "ia3"])
def test_peft_passes_the_features_through_and_starts_at_the_base(tiny_base, method):
    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.model import encode_smiles
    from molpeft_cli.model.loading import load_pretrained
    from molpeft_cli.training.batching import collate
    from molpeft_cli.training.checkpoint import config_overrides

    options = FinetuneOptions(peft=method).resolved()
    torch.manual_seed(0)
    loaded = load_pretrained(tiny_base, "regression", config_overrides=config_overrides(options.to_dict(), 4))
    ids, mask = collate(encode_smiles(loaded.tokenizer, SMILES[:3]).input_ids, loaded.tokenizer.pad_token_id)
    inputs = {"input_ids": ids, "attention_mask": mask, "features": torch.randn(3, 4)}
    with torch.no_grad():
        before = loaded.model.eval()(**inputs).logits.clone()
        adapted = REGISTRY[method].prepare(loaded.model, options.to_dict()).eval()
        assert torch.equal(adapted(**inputs).logits, before)
        changed = adapted(**{**inputs, "features": inputs["features"] + 1.0}).logits
    assert not torch.equal(changed, before)  # the features reach the head


@pytest.mark.parametrize("method", ["full", "bitfit", "lora", "ia3"])
def test_checkpoint_stores_the_statistics_and_predicts_as_trained(tiny_base, lipo_split_small, tmp_path, method):
    from molpeft_cli.chem.features import FEATURES_FILE, MoleculeFeatures
    from molpeft_cli.steps.finetune import run_finetune
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.prediction import predict_molecules

    options = FinetuneOptions(peft=method, max_epochs=1, batch_size=32, features=["morgan-count"])
    out = tmp_path / "ck"
    outcome = run_finetune(str(lipo_split_small), str(out), options, str(tiny_base), [], seed=0)
    meta = json.loads((out / "finetune.json").read_text())
    assert meta["features"]["sets"] == ["morgan-count"] and meta["features"]["dim"] == 2048
    assert outcome.meta["features"] == meta["features"] and (out / FEATURES_FILE).is_file()

    split = pl.read_parquet(lipo_split_small)
    train = split.filter(pl.col("split") == "train")["smiles_canonical"].to_list()
    reference = MoleculeFeatures.fit(["morgan-count"], train)  # the training split's statistics, recomputed
    ft = load_finetuned(out, "cpu")
    assert np.allclose(ft.features.mean, reference.mean) and np.allclose(ft.features.std, reference.std)

    test = split.filter(pl.col("split") == "test")["smiles_canonical"].to_list()
    preds = predict_molecules(ft, test)
    from molpeft_cli.training.regression import encode, predict_encoded

    enc = encode(ft.tokenizer, test, truncate=True)
    z = predict_encoded(ft.model, enc.input_ids, ft.tokenizer.pad_token_id, features=reference.transform(test))
    assert np.allclose(preds, z * ft.label_std + ft.label_mean, atol=1e-6)
    zeros = predict_encoded(ft.model, enc.input_ids, ft.tokenizer.pad_token_id,
                            features=np.zeros((len(test), 2048), dtype=np.float32))
    assert not np.allclose(z, zeros)  # predictions depend on the features


def test_cli_round_trip_with_rdkit2d_and_the_steps_that_reuse_the_model(runner, tiny_base, lipo_split_small,
                                                                         tmp_path):
    ckpt = tmp_path / "ck"
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "lora",
                             "--max-epochs", "1", "--features", "rdkit2d,morgan-count", "-o", str(ckpt)])
    assert result.exit_code == 0, result.output
    assert "features rdkit2d+morgan-count" in result.stderr
    result = invoke(runner, ["eval", str(ckpt), str(lipo_split_small), "-o", str(tmp_path / "p.parquet")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "p.parquet")["prediction"].is_finite().all()
    result = invoke(runner, ["predict", str(ckpt), "CCO", "c1ccccc1O"])
    assert result.exit_code == 0 and pl.read_csv(result.stdout.encode())["prediction"].null_count() == 0

    pool = pl.read_parquet(lipo_split_small).filter(pl.col("split") == "test").drop("split", "scaffold")
    pool.write_parquet(tmp_path / "pool.parquet")
    result = invoke(runner, ["influence", str(ckpt), "--train", str(lipo_split_small), "--pool",
                             str(tmp_path / "pool.parquet"), "--params", "head", "--solver", "exact",
                             "-o", str(tmp_path / "scores.parquet")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "scores.parquet")["score"].is_finite().all()
    result = invoke(runner, ["select", str(tmp_path / "pool.parquet"), "--strategy", "mcdropout", "--model",
                             str(ckpt), "--passes", "3", "-k", "4", "-o", str(tmp_path / "mc.parquet")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "mc.parquet").height == 4

    (ckpt / "features.safetensors").unlink()
    assert_one_line_error(invoke(runner, ["predict", str(ckpt), "CCO"]), "features.safetensors")
    assert_one_line_error(invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base),
                                          "--features", "rdkit2d,maccs", "-o", str(tmp_path / "x")]), "maccs")


def test_influence_check_retrains_with_the_features(tiny_base, lipo_split_small, tmp_path):
    from molpeft_cli.influence.check import CheckConfig
    from molpeft_cli.influence.retraining import retrain_subsets
    from molpeft_cli.steps.finetune import run_finetune

    out = tmp_path / "ck"
    run_finetune(str(lipo_split_small), str(out), FinetuneOptions(peft="bitfit", max_epochs=1, batch_size=32,
                                                                   features=["morgan-count"]),
                 str(tiny_base), [], seed=0)
    split = pl.read_parquet(lipo_split_small)
    pool = split.filter(pl.col("split") == "train").head(12).drop("split", "scaffold")  # not valid/test compounds
    retraining = retrain_subsets(str(out), split, pool, CheckConfig(subsets=3, fraction=0.5, epochs=1))
    assert np.all(np.isfinite(retraining.measured))


def test_tune_trains_with_the_features_and_best_toml_keeps_them(runner, tiny_base, lipo_split_small, tmp_path):
    import tomllib

    from molpeft_cli.tuning.sweep import trial_key

    out = tmp_path / "sweep"
    result = invoke(runner, ["tune", str(lipo_split_small), "--model", str(tiny_base), "--peft", "bitfit",
                             "--grid-lr", "1e-2", "--max-epochs", "2", "--batch-size", "32",
                             "--features", "morgan-count", "-o", str(out)])
    assert result.exit_code == 0, result.output
    winner = pl.read_parquet(out / "results.parquet").row(0, named=True)
    assert tomllib.loads((out / "best.toml").read_text())["finetune"]["features"] == ["morgan-count"]
    result = invoke(runner, ["finetune", str(lipo_split_small), "--model", str(tiny_base), "--config",
                             str(out / "best.toml"), "-o", str(tmp_path / "ck")])
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "ck" / "finetune.json").read_text())
    assert meta["features"]["sets"] == ["morgan-count"]
    assert meta["best_valid_mse"] == pytest.approx(winner["valid_mse_mean"], rel=1e-12)
    # sweeps without features keep the trial keys they had before the option existed
    plain = FinetuneOptions(peft="bitfit").resolved().to_dict()
    before = {k: v for k, v in plain.items() if k != "features"}
    assert trial_key("s", "m", plain, 0) == trial_key("s", "m", before, 0)
    assert trial_key("s", "m", {**plain, "features": ["rdkit2d"]}, 0) != trial_key("s", "m", plain, 0)


def test_the_study_passes_features_to_every_cell_only_when_asked(tmp_path):
    from molpeft_cli.choices import ADAPTERS, SELECTIONS
    from molpeft_cli.pipeline.study import StudyConfig, plan_study

    plain = plan_study(StudyConfig(output=str(tmp_path), profile="tiny"))
    with_features = plan_study(StudyConfig(output=str(tmp_path), profile="tiny", features=["rdkit2d"]))
    cells = [s for s in with_features.steps if s.argv[0] == "finetune"]
    assert len(cells) >= len(ADAPTERS) * len(SELECTIONS)
    assert all(s.argv[s.argv.index("--features") + 1] == "rdkit2d" for s in cells)
    assert not any("--features" in s.argv for s in plain.steps)
    assert with_features.describe()["features"] == ["rdkit2d"] and "features" not in plain.describe()
