"""The retraining check (LDS): its statistics against scipy, its common-random-numbers retraining, and
`molpeft influence-check` end to end on the tiny model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from scipy.stats import spearmanr

from molpeft_cli.errors import MolpeftError
from molpeft_cli.influence.check import CheckConfig, draw_subsets, lds, predicted_changes
from tests.conftest import assert_one_line_error, invoke


def test_lds_is_spearman_with_a_bootstrap_ci() -> None:
    rng = np.random.default_rng(0)
    predicted = rng.normal(size=30)
    measured = predicted + rng.normal(scale=0.7, size=30)
    value, low, high = lds(predicted, measured, bootstrap=500, seed=1)
    assert value == pytest.approx(spearmanr(predicted, measured)[0])
    assert low < value < high and -1 <= low and high <= 1
    assert lds(predicted, 2 * predicted + 1, bootstrap=200)[0] == pytest.approx(1.0)
    assert lds(predicted, -predicted, bootstrap=200)[0] == pytest.approx(-1.0)


def test_subsets_and_first_order_prediction() -> None:
    members = draw_subsets(10, 6, 0.3, seed=2)
    assert members.shape == (6, 10) and (members.sum(axis=1) == 3).all()
    np.testing.assert_array_equal(members, draw_subsets(10, 6, 0.3, seed=2))
    scores = np.arange(10.0)
    expected = np.array([-scores[row].sum() / 100 for row in members])
    np.testing.assert_allclose(predicted_changes(scores, members, 100), expected)
    with pytest.raises(MolpeftError, match="fraction"):
        CheckConfig(fraction=1.0)
    with pytest.raises(MolpeftError, match="subsets"):
        CheckConfig(subsets=2)


def test_retraining_uses_common_random_numbers(tiny_finetuned) -> None:
    """Two train-only runs are bitwise equal; adding rows changes the result; the checkpoint is left as it was."""
    import torch

    from molpeft_cli.influence.retraining import continue_training, recorded_recipe
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.regression import encode

    _, split, pool, ck = tiny_finetuned
    ft = load_finetuned(ck)
    recipe = replace(recorded_recipe(ft.meta["options"], lr=1e-3), batch_size=16, weight_decay=0.0)
    train = pl.read_parquet(split).filter(pl.col("split") == "train")
    ids = encode(ft.tokenizer, train["smiles_canonical"].to_list(), True).input_ids
    z = np.linspace(-1, 1, len(ids))
    start = {k: v.clone() for k, v in ft.model.state_dict().items()}
    results = []
    for extra in (0, 0, 5):
        ft.model.load_state_dict(start)
        continue_training(ft.model, ids, z, ids[:extra], z[:extra], ft.tokenizer.pad_token_id, recipe=recipe,
                          epochs=1, seed=0)
        results.append(torch.cat([p.detach().flatten() for p in ft.model.parameters() if p.requires_grad]))
    assert torch.equal(results[0], results[1]) and not torch.equal(results[0], results[2])


def test_retraining_uses_the_fine_tuning_recipe(tiny_finetuned, monkeypatch) -> None:
    """The retraining's optimizer is fine-tuning's: the checkpoint's lr and weight decay on weight matrices only
    (no decay on biases or LayerNorm weights), and its warmup over the first warmup_epochs of steps."""
    import torch

    from molpeft_cli.influence.retraining import continue_training, recorded_recipe
    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.regression import encode

    _, split, _, ck = tiny_finetuned
    ft = load_finetuned(ck)
    recorded = ft.meta["options"]
    recipe = recorded_recipe(recorded)
    assert (recipe.lr, recipe.weight_decay, recipe.warmup_epochs, recipe.batch_size, recipe.grad_clip) == (
        recorded["lr"], recorded["weight_decay"], recorded["warmup_epochs"], recorded["batch_size"],
        recorded["grad_clip"])
    assert recorded_recipe(recorded, lr=0.5).lr == 0.5
    assert recorded_recipe({k: v for k, v in recorded.items() if k != "warmup_epochs"}).warmup_epochs == 0.0
    recipe = replace(recipe, batch_size=16, warmup_epochs=1.0)  # 120 rows: 8 steps per epoch, all warmup
    steps = []
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        steps.append([(g["lr"], g["weight_decay"], {id(p) for p in g["params"]}) for g in self.param_groups])
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording_step)
    train = pl.read_parquet(split).filter(pl.col("split") == "train")
    ids = encode(ft.tokenizer, train["smiles_canonical"].to_list(), True).input_ids
    continue_training(ft.model, ids, np.linspace(-1, 1, len(ids)), [], np.zeros(0), ft.tokenizer.pad_token_id,
                      recipe=recipe, epochs=2, seed=0)
    assert len(steps) == 16
    decay_of = {pid: wd for _, wd, ids_ in steps[0] for pid in ids_}
    named = {name: id(p) for name, p in ft.model.named_parameters() if p.requires_grad}
    assert set(decay_of) == set(named.values())
    norms = {id(p) for m in ft.model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
    for name, pid in named.items():
        undecayed = name.endswith("bias") or pid in norms
        assert decay_of[pid] == (0.0 if undecayed else recipe.weight_decay), name
    assert any(wd == 0.0 for wd in decay_of.values()) and any(wd > 0 for wd in decay_of.values())
    rates = [groups[0][0] for groups in steps]
    assert rates[:9] == pytest.approx([recipe.lr * (k + 1) / 9 for k in range(8)] + [recipe.lr])
    assert rates[8:] == pytest.approx([recipe.lr] * 8)  # then the base rate: no plateau decay without validation


def test_influence_check_command(runner, tiny_finetuned) -> None:
    directory, split, pool, ck = tiny_finetuned
    tables = []
    for solver in ("exact", "projected"):
        out = directory / f"check-{solver}.parquet"
        result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(pool), "--params",
                                 "head", "--solver", solver, "-o", str(out)])
        assert result.exit_code == 0, result.output
        tables.append(str(out))
    out = directory / "check.parquet"
    args = ["influence-check", str(ck), "--train", str(split), "--pool", str(pool), "--scores", tables[0],
            "--scores", tables[1], "--subsets", "4", "--fraction", "0.5", "--bootstrap", "200", "-o", str(out)]
    result = invoke(runner, args)
    assert result.exit_code == 0, result.output
    check = pl.read_parquet(out)
    assert check["solver"].to_list() == ["exact", "projected"] and set(check["scope"].to_list()) == {"head"}
    assert ((check["lds"] >= -1) & (check["lds"] <= 1)).all() and (check["subsets"] == 4).all()
    manifest = json.loads((directory / "check.parquet.manifest.json").read_text())
    measured = manifest["retraining"]["measured_change"]
    assert len(measured) == 4 and len(manifest["retraining"]["subset_members"][0]) == 20
    # the LDS in the table is the Spearman of the recorded measurements against the scores' prediction
    scores = pl.read_parquet(tables[0])["score"].to_numpy()
    members = np.zeros((4, 40), dtype=bool)
    for j, rows in enumerate(manifest["retraining"]["subset_members"]):
        members[j, rows] = True
    predicted = predicted_changes(scores, members, 120)
    assert check["lds"][0] == pytest.approx(spearmanr(predicted, measured)[0], abs=1e-6)


def test_a_recorded_retraining_is_reused(runner, tiny_finetuned, tmp_path) -> None:
    directory, split, pool, ck = tiny_finetuned
    scores = directory / "check-exact.parquet"
    if not scores.exists():
        result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(pool), "--params",
                                 "head", "--solver", "exact", "-o", str(scores)])
        assert result.exit_code == 0, result.output
    record = tmp_path / "retraining.json"
    args = ["influence-check", str(ck), "--train", str(split), "--pool", str(pool), "--scores", str(scores),
            "--subsets", "3", "--fraction", "0.25", "--bootstrap", "100", "--retraining", str(record)]
    first = invoke(runner, [*args, "-o", str(tmp_path / "a.parquet")])
    assert first.exit_code == 0, first.output and record.is_file()
    second = invoke(runner, [*args, "-o", str(tmp_path / "b.parquet")])
    assert second.exit_code == 0 and "reusing the retraining" in second.stderr
    assert pl.read_parquet(tmp_path / "a.parquet").equals(pl.read_parquet(tmp_path / "b.parquet"))
    from molpeft_cli import api  # the library face: the same step, the same table

    result = api.influence_check(api.CheckStepConfig(str(ck), train=str(split), pool=str(pool),
                                                     output=str(tmp_path / "api.parquet"), scores=[str(scores)],
                                                     subsets=3, fraction=0.25, bootstrap=100, retraining=str(record)))
    assert result.table.equals(pl.read_parquet(tmp_path / "a.parquet"))
    assert pl.read_parquet(tmp_path / "api.parquet").equals(result.table)
    other = [a if a != "0.25" else "0.5" for a in args]
    assert_one_line_error(invoke(runner, [*other, "-o", str(tmp_path / "c.parquet")]), "was made with")


def test_influence_check_bad_input(runner, tiny_finetuned, tmp_path) -> None:
    directory, split, pool, ck = tiny_finetuned
    partial = tmp_path / "partial.parquet"
    pl.read_parquet(pool).select("mol_id").head(5).with_columns(pl.lit(1.0).alias("score")).write_parquet(partial)
    base = ["influence-check", str(ck), "--train", str(split), "--pool", str(pool), "-o", str(tmp_path / "c.pq")]
    assert_one_line_error(invoke(runner, [*base, "--scores", str(partial)]), "35 of 40 pool molecules")
    assert_one_line_error(invoke(runner, [*base, "--scores", str(partial), "--fraction", "1.5"]), "fraction")
    assert_one_line_error(invoke(runner, base), "--scores")
    before = pool.read_bytes()
    clobber = ["influence-check", str(ck), "--train", str(split), "--pool", str(pool), "--scores", str(partial),
               "-o", str(pool)]
    assert_one_line_error(invoke(runner, clobber), "--output")
    assert pool.read_bytes() == before


def test_worker_processes_give_the_same_losses(tiny_finetuned) -> None:
    from molpeft_cli.influence.retraining import retrain_subsets

    _, split, pool, ck = tiny_finetuned
    config = CheckConfig(subsets=3, fraction=0.25, bootstrap=100)
    split_table, pool_table = pl.read_parquet(split), pl.read_parquet(pool)
    one = retrain_subsets(str(ck), split_table, pool_table, config, jobs=1)
    two = retrain_subsets(str(ck), split_table, pool_table, config, jobs=2)
    assert one.base_loss == two.base_loss and one.start_loss == two.start_loss
    np.testing.assert_array_equal(one.losses, two.losses)
    assert one.n_train == 120 and not np.array_equal(one.losses, np.full(3, one.base_loss))
