"""egl, kcenter, badge, lcmd and gradsim on tiny fine-tuned checkpoints of both tasks: each against a reference
computed one molecule at a time with autograd, `molpeft select` for every task a strategy supports, the one-line
refusal where it does not, and prefix consistency (the first picks of a larger k are the smaller k's)."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest
import torch
from test_batch_selection_cores import brute_farthest_point, brute_lcmd, reference_kmeanspp

from molpeft_cli.selection import REGISTRY, SelectionInputs, select_pool
from molpeft_cli.selection.gradsim import CountSketch
from molpeft_cli.training.checkpoint import load_finetuned
from tests.conftest import assert_one_line_error, invoke

SUPPORTED = {"regression": ["egl", "kcenter", "lcmd", "gradsim"],
             "classification": ["egl", "kcenter", "badge", "gradsim"]}


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    yield


def one_row(ft, smiles: str, label: float | None = None) -> dict:
    """One molecule as its own batch (no padding)."""
    from molpeft_cli.model import encode_smiles

    ids = encode_smiles(ft.tokenizer, [smiles], truncate=True).input_ids[0]
    batch = {"input_ids": torch.tensor([ids]), "attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if label is not None:
        batch["labels"] = torch.tensor([(label - ft.label_mean) / ft.label_std], dtype=torch.float32)
    return batch


def trainable(ft) -> list[torch.Tensor]:
    return [p for p in ft.model.parameters() if p.requires_grad]


def grad_norm(value: torch.Tensor, params: list[torch.Tensor]) -> float:
    grads = torch.autograd.grad(value, params, allow_unused=True, retain_graph=True)
    return math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads if g is not None))


def flat_grad(value: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    grads = torch.autograd.grad(value, params, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1).double()
                      for g, p in zip(grads, params, strict=True)])


def run(strategy: str, split, pool, ck, k: int = 8, **settings):
    from molpeft_cli.steps.select import run_selection

    options = {"k": k, "seed": 0, **settings}
    return run_selection(pl.read_parquet(pool), strategy, options, pl.read_parquet(split), ("valid", "test"),
                         pl.read_parquet(split), str(ck), None, True, device="cpu",
                         valid=pl.read_parquet(split))[0]


def scores_by_id(chosen: pl.DataFrame) -> dict[str, float]:
    return dict(zip(chosen["mol_id"].to_list(), chosen["score"].to_list(), strict=True))


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_egl_equals_gradient_norms_one_molecule_at_a_time(setups, task):
    from molpeft_cli.influence.losses import checkpoint_pos_weight
    from molpeft_cli.model.heads import binary_classification_loss

    split, pool, ck = setups[task]
    chosen = run("egl", split, pool, ck, k=20)
    ft = load_finetuned(ck, "cpu")
    params = trainable(ft)
    weight = checkpoint_pos_weight(ft.meta) if task == "classification" else None
    expected = {}
    for mol_id, smiles in pl.read_parquet(pool).select("mol_id", "smiles_canonical").iter_rows():
        logit = ft.model(**one_row(ft, smiles)).logits.reshape(())
        if task == "regression":
            expected[mol_id] = grad_norm(logit, params)
        else:
            p = float(torch.sigmoid(logit.detach()))
            lengths = [grad_norm(binary_classification_loss(logit.reshape(1, 1), torch.tensor([y]), weight), params)
                       for y in (0.0, 1.0)]
            expected[mol_id] = (1 - p) * lengths[0] + p * lengths[1]
    got = scores_by_id(chosen)
    assert set(got) == set(expected)
    for mol_id, value in expected.items():
        assert got[mol_id] == pytest.approx(value, rel=1e-4, abs=1e-9), mol_id
    assert chosen["score"].to_list() == sorted(chosen["score"].to_list(), reverse=True)


def embeddings(ft, table: pl.DataFrame) -> np.ndarray:
    with torch.no_grad():
        rows = [ft.model(**one_row(ft, s)).pooled_output[0].double().numpy() for s in table["smiles_canonical"]]
    return np.stack(rows)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_kcenter_is_farthest_point_search_in_the_pooled_embedding(setups, task):
    split, pool, ck = setups[task]
    chosen = run("kcenter", split, pool, ck, k=10)
    ft = load_finetuned(ck, "cpu")
    pool_table = pl.read_parquet(pool).sort("mol_id")
    train = pl.read_parquet(split).filter(pl.col("split") == "train")
    order, distances = brute_farthest_point(embeddings(ft, pool_table).tolist(), embeddings(ft, train).tolist(), 10)
    assert chosen["mol_id"].to_list() == [pool_table["mol_id"][i] for i in order]
    np.testing.assert_allclose(chosen["score"].to_numpy(), distances, rtol=1e-4)


def test_lcmd_is_its_definition_on_the_last_layer_features(setups):
    split, pool, ck = setups["regression"]
    chosen = run("lcmd", split, pool, ck, k=10)
    ft = load_finetuned(ck, "cpu")
    pool_table = pl.read_parquet(pool).sort("mol_id")
    train = pl.read_parquet(split).filter(pl.col("split") == "train")
    order, distances = brute_lcmd(embeddings(ft, pool_table).tolist(), embeddings(ft, train).tolist(), 10)
    assert chosen["mol_id"].to_list() == [pool_table["mol_id"][i] for i in order]
    np.testing.assert_allclose(chosen["score"].to_numpy(), distances, rtol=1e-4)


def test_badge_is_kmeanspp_on_last_layer_gradients_at_the_predicted_label(setups):
    from molpeft_cli.influence.losses import checkpoint_pos_weight
    from molpeft_cli.model.heads import binary_classification_loss

    split, pool, ck = setups["classification"]
    chosen = run("badge", split, pool, ck, k=10, seed=4)
    ft = load_finetuned(ck, "cpu")
    weight_param = next(p for n, p in ft.model.named_parameters() if n.endswith("regressor.out_proj.weight"))
    weight_param.requires_grad_(True)
    pos_weight = checkpoint_pos_weight(ft.meta)
    pool_table = pl.read_parquet(pool).sort("mol_id")
    gradients = []
    for smiles in pool_table["smiles_canonical"]:
        logit = ft.model(**one_row(ft, smiles)).logits
        predicted = float(torch.sigmoid(logit).item() >= 0.5)
        loss = binary_classification_loss(logit, torch.tensor([predicted]), pos_weight)
        gradients.append(torch.autograd.grad(loss, weight_param)[0].reshape(-1).double().numpy())
    order = reference_kmeanspp(np.stack(gradients), 10, 4)
    assert chosen["mol_id"].to_list() == [pool_table["mol_id"][i] for i in order]


@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("dim", [0, 64])
def test_gradsim_is_the_cosine_of_projected_gradients_to_the_validation_gradient(setups, task, dim):
    from molpeft_cli.influence.losses import checkpoint_pos_weight, task_objective

    split, pool, ck = setups[task]
    chosen = run("gradsim", split, pool, ck, k=20, projection_dim=dim, seed=2)
    ft = load_finetuned(ck, "cpu")
    params = trainable(ft)
    objective = task_objective(task, checkpoint_pos_weight(ft.meta) if task == "classification" else None)
    valid = pl.read_parquet(split).filter(pl.col("split") == "valid")

    def loss(fn, batch):
        return fn(lambda **kw: ft.model(**kw), batch)

    target = sum(flat_grad(loss(objective.target_loss, one_row(ft, s, y)), params)
                 for s, y in valid.select("smiles_canonical", "label").iter_rows()) / valid.height
    projection = torch.eye(len(target), dtype=torch.float64) if dim == 0 else \
        CountSketch(len(target), dim, 2, "cpu").matrix()
    v = projection @ target
    got = scores_by_id(chosen)
    for mol_id, smiles, y in pl.read_parquet(pool).select("mol_id", "smiles_canonical", "label").iter_rows():
        g = projection @ flat_grad(loss(objective.loss, one_row(ft, smiles, y)), params)
        assert got[mol_id] == pytest.approx(float(g @ v / (g.norm() * v.norm())), rel=1e-3, abs=1e-6), mol_id


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_the_first_picks_of_a_larger_k_are_the_smaller_k(setups, task):
    split, pool, ck = setups[task]
    for strategy in SUPPORTED[task]:
        big = run(strategy, split, pool, ck, k=12)["mol_id"].to_list()
        small = run(strategy, split, pool, ck, k=5)["mol_id"].to_list()
        assert big[:5] == small, strategy


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_molpeft_select_runs_every_strategy_the_task_supports(runner, setups, task, tmp_path):
    split, pool, ck = setups[task]
    for strategy in SUPPORTED[task]:
        out = tmp_path / f"{strategy}.parquet"
        result = invoke(runner, ["select", str(pool), "--strategy", strategy, "--model", str(ck), "-k", "6",
                                 "--exclude", str(split), "--projection-dim", "32", "-o", str(out)])
        assert result.exit_code == 0, result.output
        chosen = pl.read_parquet(out)
        assert chosen.height == 6 and chosen["strategy"].unique().to_list() == [strategy]
        manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
        assert manifest["selection"]["chosen"] == 6
        assert manifest["params"]["projection_dim"] == 32  # not the default, so recorded


@pytest.mark.parametrize(("task", "strategy", "other"), [("regression", "badge", "lcmd"),
                                                         ("classification", "lcmd", "badge")])
def test_a_strategy_for_the_other_task_is_refused_in_one_line(runner, setups, task, strategy, other, tmp_path):
    split, pool, ck = setups[task]
    result = invoke(runner, ["select", str(pool), "--strategy", strategy, "--model", str(ck), "-k", "6",
                             "--exclude", str(split), "-o", str(tmp_path / "x.parquet")])
    wanted = "classification" if task == "regression" else "regression"
    assert_one_line_error(result, f"--strategy {strategy} applies to {wanted} checkpoints only; this checkpoint's "
                          f"task is {task}: use --strategy {other}")


@pytest.mark.parametrize(("strategy", "setting"), [("kcenter", "train"), ("lcmd", "train"), ("gradsim", "valid"),
                                                   ("egl", "model"), ("badge", "model")])
def test_a_missing_input_names_its_setting(setups, strategy, setting):
    from molpeft_cli.errors import SettingError

    split, pool, ck = setups["classification" if strategy == "badge" else "regression"]
    model = None if setting == "model" else load_finetuned(ck, "cpu")
    with pytest.raises(SettingError) as caught:
        REGISTRY[strategy].context(SelectionInputs(pl.read_parquet(pool), model=model))
    assert caught.value.setting == setting


def test_given_embeddings_need_no_model():
    from molpeft_cli.selection import KCenterConfig, SelectionContext

    pool = pl.DataFrame({"mol_id": [f"m{i}" for i in range(5)]})
    points = np.array([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [0.0, 3.0], [2.0, 2.0]])
    chosen = select_pool(pool, "kcenter", KCenterConfig(k=3),
                         SelectionContext(embeddings=points, reference_embeddings=np.zeros((1, 2))))
    assert chosen["mol_id"].to_list() == ["m2", "m3", "m4"]
