"""Influence of the binary cross-entropy (a classification checkpoint): the loss and its curvature against hand
formulas and autograd, per-sample BCE gradients against one-at-a-time autograd, LiSSA / CG / projected against
the exact inverse-Hessian solution on tiny models with 0/1 labels, and `influence` / `influence-check` on a tiny
classification checkpoint."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch
from influence_helpers import row_batches
from scipy.stats import spearmanr
from torch import nn

from molpeft_cli.influence import (
    FlatObjective,
    PerSampleGrads,
    SolverConfig,
    binary_classification_loss,
    dense_hessian,
    exact_ihvp,
    influence_scores,
    lissa_ihvp,
    minibatch_hvp,
    projected_ihvp,
    task_objective,
)
from tests.classification_checkpoint import binary_split_and_pool, classification_checkpoint
from tests.conftest import assert_one_line_error, invoke


def test_the_loss_is_the_mean_binary_cross_entropy() -> None:
    logits = torch.tensor([[2.0], [-1.0], [0.5], [30.0]], dtype=torch.float64)
    labels = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    p = torch.sigmoid(logits.squeeze(-1))
    by_hand = -(labels * torch.log(p) + (1 - labels) * torch.log(1 - p))
    assert binary_classification_loss(logits, labels).item() == pytest.approx(by_hand.mean().item(), rel=1e-12)
    torch.testing.assert_close(binary_classification_loss(logits, labels, reduction="none"), by_hand)
    weighted = -(3.0 * labels * torch.log(p) + (1 - labels) * torch.log(1 - p))
    assert binary_classification_loss(logits, labels, 3.0).item() == pytest.approx(weighted.mean().item())
    half = binary_classification_loss(logits.to(torch.bfloat16), labels.float())
    assert half.dtype == torch.float32


@pytest.mark.parametrize("pos_weight", [None, 2.5])
def test_the_projected_curvature_is_the_second_derivative_in_the_logit(pos_weight) -> None:
    objective = task_objective("classification", pos_weight)
    logits = torch.tensor([-3.0, -0.2, 0.0, 1.5, 4.0], dtype=torch.float64)
    labels = torch.tensor([0.0, 1.0, 0.0, 1.0, 1.0], dtype=torch.float64)

    def forward(**_):
        class Out:
            pass

        out = Out()
        out.logits = logits.unsqueeze(-1)
        return out

    curvature = objective.curvature(forward, {"input_ids": None, "labels": labels})
    for i in range(5):  # d2/dz2 of row i's loss, by autograd
        second = torch.autograd.functional.hessian(
            lambda z, i=i: binary_classification_loss(z.reshape(1, 1), labels[i : i + 1], pos_weight), logits[i])
        assert curvature[i].item() == pytest.approx(second.item(), rel=1e-10)
    assert task_objective("regression").curvature == 2.0
    assert task_objective("classification", 1.0).pos_weight is None  # weight 1 is no weight


# --- a fitted tiny MLP with BCE: the exact-solver pattern of test_influence_lissa_vs_exact.py -----------------


def bce_loss(forward, batch):
    x, y = batch
    return binary_classification_loss(forward(x), y)


def mlp_logit(forward, batch):
    x, _ = batch
    return forward(x).squeeze(-1)


def mlp_curvature(forward, batch):
    p = torch.sigmoid(mlp_logit(forward, batch))
    return p * (1 - p)


@pytest.fixture(scope="module")
def bce_problem():
    """8 -> 16 -> 1 tanh MLP (161 parameters) fitted by L-BFGS (with a little weight decay, so the optimum is
    finite) on Bernoulli labels drawn from a smooth logit: train 256, valid 64, pool 100."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(8, generator=gen, dtype=torch.float64)

    def data(n: int):
        x = torch.randn(n, 8, generator=gen, dtype=torch.float64)
        return x, torch.bernoulli(torch.sigmoid(2 * torch.tanh(x @ w)), generator=gen)

    train, valid, pool = data(256), data(64), data(100)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    opt = torch.optim.LBFGS(model.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = binary_classification_loss(model(train[0]), train[1]) + 1e-3 * sum(
            (p**2).sum() for p in model.parameters())
        loss.backward()
        return loss

    opt.step(closure)
    torch.set_num_threads(threads)
    assert set(train[1].unique().tolist()) == {0.0, 1.0}
    return model, train, valid, pool


def relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).norm() / expected.norm())


def test_lissa_matches_the_exact_bce_solution(bce_problem) -> None:
    model, train, valid, pool = bce_problem
    names = [name for name, _ in model.named_parameters()]
    objective = FlatObjective(model, bce_loss, names)
    batches = row_batches(*train, 64)
    target = objective.mean_grad([valid])
    hessian = dense_hessian(objective, batches, "double-backward")
    eigenvalues = torch.linalg.eigvalsh(hessian)
    damping = 0.05
    assert eigenvalues[0] + damping > 0  # the damped Hessian is positive definite here
    step = 1.0 / (float(eigenvalues[-1]) * 1.5 + damping)  # minibatch Hessians stay under 1.5x the full one
    exact = exact_ihvp(hessian, target, damping=damping)
    lissa = lissa_ihvp(minibatch_hvp(objective, batches, "double-backward"), target, depth=4000, damping=damping,
                       step=step, tol=0.01)
    assert relative_error(lissa.solution, exact.solution) <= 0.05
    pool_grads = PerSampleGrads(objective)(pool)
    rho = spearmanr((pool_grads @ lissa.solution).numpy(), (pool_grads @ exact.solution).numpy())[0]
    assert rho >= 0.95


def test_every_solver_against_exact_on_bce(bce_problem) -> None:
    model, train, valid, pool = bce_problem
    batches = row_batches(*train, 64)
    pool_batches = row_batches(*pool, 32)
    results = {}
    for config in (
        SolverConfig(solver="exact", damping=0.05),
        SolverConfig(solver="cg", damping=0.05, cg_tol=1e-10, cg_max_iter=500),
        SolverConfig(solver="lissa", damping=0.05, depth=4000, tol=0.01, hvp="forward-over-reverse"),
        SolverConfig(solver="projected", damping=0.05, proj_dim=10_000),
    ):
        results[config.solver] = influence_scores(model, bce_loss, batches, [valid], pool_batches, scope="all",
                                                  solver=config, output_fn=mlp_logit,
                                                  output_curvature=mlp_curvature)
    exact = results["exact"].scores
    assert exact.shape == (100,) and results["exact"].n_params == 161
    np.testing.assert_allclose(results["cg"].scores, exact, rtol=1e-6, atol=1e-8)
    assert spearmanr(results["lissa"].scores, exact)[0] >= 0.95
    # projected is the Gauss-Newton solve, not the Hessian one: close near a fit, not equal
    assert spearmanr(results["projected"].scores, exact)[0] >= 0.8


def test_projected_is_the_exact_bce_gauss_newton_solve(bce_problem) -> None:
    """Unprojected, the solver solves (G + damping I) x = v with G = (1/n) sum p(1-p) J J^T, J by autograd."""
    model, train, valid, _ = bce_problem
    names = [name for name, _ in model.named_parameters()]
    objective = FlatObjective(model, bce_loss, names, mlp_logit, mlp_curvature)
    target = objective.mean_grad([valid])
    x = train[0]

    def logits(*flat):
        return torch.func.functional_call(model, dict(zip(names, flat, strict=True)), (x,)).squeeze(-1)

    jac = torch.autograd.functional.jacobian(logits, tuple(p.detach() for p in model.parameters()))
    j = torch.cat([part.reshape(len(x), -1) for part in jac], dim=1)
    with torch.no_grad():
        p = torch.sigmoid(model(x).squeeze(-1))
    gn = j.T @ (j * (p * (1 - p)).unsqueeze(1)) / len(x)
    result = projected_ihvp(objective, row_batches(*train, 64), target, proj_dim=10_000, damping=0.05)
    expected = torch.linalg.solve(gn + 0.05 * torch.eye(len(gn), dtype=gn.dtype), target)
    torch.testing.assert_close(result.solution, expected, rtol=1e-7, atol=1e-9)


# --- the tiny MoLFormer with 0/1 labels, through the library's own classification objective -------------------


@pytest.fixture(scope="module")
def tiny_classifier(tiny_base):
    """The tiny MoLFormer with a regression head (one logit), float64, and 0/1-labelled dict batches."""
    import molpeft_cli.model as M
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.model.loading import load_tokenizer
    from molpeft_cli.training.batching import batch_dicts
    from molpeft_cli.training.regression import encode

    tokenizer = load_tokenizer(tiny_base)
    config = M.named_config("tiny", vocab_size=len(tokenizer.vocab), max_position_embeddings=256)
    torch.manual_seed(0)
    model = M.MolformerForRegression(config).double().eval()
    raw = pl.read_csv(resolve_source("lipophilicity").path).head(120)
    ids = encode(tokenizer, raw["smiles"].to_list(), True).input_ids
    labels = (raw["exp"] >= 2.5).cast(pl.Float64).to_numpy()

    def batches(rows: slice, size: int, shuffle: bool = False) -> list[dict]:
        out = batch_dicts(ids[rows], size, tokenizer.pad_token_id, labels=labels[rows], shuffle=shuffle, seed=0)
        return [{**b, "labels": b["labels"].double()} for b in out]

    return model, batches(slice(0, 80), 20, shuffle=True), batches(slice(80, 100), 10), batches(slice(100, 120), 8)


def test_per_sample_bce_gradients_match_one_at_a_time_autograd(tiny_classifier) -> None:
    model, _, _, pool = tiny_classifier
    objective_of = task_objective("classification")
    names = [name for name, p in model.named_parameters()]
    objective = FlatObjective(model, objective_of.loss, names)
    batch = pool[0]
    got = PerSampleGrads(objective)(batch)
    params = [p for _, p in model.named_parameters()]
    for i in range(batch["input_ids"].shape[0]):
        model.zero_grad(set_to_none=True)
        out = model(input_ids=batch["input_ids"][i : i + 1], attention_mask=batch["attention_mask"][i : i + 1])
        p = torch.sigmoid(out.logits.reshape(()))
        y = batch["labels"][i]
        loss = -(y * torch.log(p) + (1 - y) * torch.log(1 - p))  # the BCE written out, not the library's
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        expected = torch.cat([(torch.zeros_like(q) if g is None else g).reshape(-1)
                              for g, q in zip(grads, params, strict=True)])
        torch.testing.assert_close(got[i], expected, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("pos_weight", [None, 2.0])
def test_solvers_against_exact_on_the_tiny_molformer(tiny_classifier, pos_weight) -> None:
    """Head scope (33 parameters): the BCE is convex there and the logit linear in the head, so the Gauss-Newton
    matrix is the Hessian and the unprojected projected solver equals the exact one."""
    model, train, valid, pool = tiny_classifier
    task = task_objective("classification", pos_weight)
    common = dict(scope="head", output_fn=task.output, target_loss_fn=task.target_loss,
                  output_curvature=task.curvature)
    results = {}
    for config in (
        SolverConfig(solver="exact", damping=0.01),
        SolverConfig(solver="cg", damping=0.01, cg_tol=1e-12, cg_max_iter=500),
        SolverConfig(solver="lissa", damping=0.01, depth=6000, tol=0.005),
        SolverConfig(solver="projected", damping=0.01, proj_dim=4096),
    ):
        results[config.solver] = influence_scores(model, task.loss, train, valid, pool, solver=config, **common)
    exact = results["exact"]
    assert exact.n_params == 33 and exact.scores.shape == (20,)
    np.testing.assert_allclose(results["cg"].scores, exact.scores, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(results["projected"].scores, exact.scores, rtol=1e-6, atol=1e-9)
    assert spearmanr(results["lissa"].scores, exact.scores)[0] >= 0.98
    # an independent exact solution: the head's Hessian from torch.autograd.functional.hessian
    names = [n for n in exact.param_names]
    flat0 = torch.cat([dict(model.named_parameters())[n].detach().reshape(-1) for n in names])
    objective = FlatObjective(model, task.loss, names)

    def train_loss(flat):
        rows = [(b["input_ids"].shape[0], objective.loss(flat, b)) for b in train]
        return sum(n * v for n, v in rows) / sum(n for n, _ in rows)

    hessian = torch.autograd.functional.hessian(train_loss, flat0)
    target = FlatObjective(model, task.target_loss, names).mean_grad(valid)
    x = torch.linalg.solve(hessian + 0.01 * torch.eye(33, dtype=hessian.dtype), target)
    pool_grads = torch.cat([PerSampleGrads(objective)(b) for b in pool])
    np.testing.assert_allclose(exact.scores, (pool_grads @ x).numpy(), rtol=1e-6, atol=1e-9)
    if pos_weight is not None:  # the weight changes the training side, so the scores
        unweighted = task_objective("classification")
        other = influence_scores(model, unweighted.loss, train, valid, pool, solver=SolverConfig(solver="exact",
                                 damping=0.01), scope="head")
        assert not np.allclose(other.scores, exact.scores)


# --- the commands on a tiny classification checkpoint ------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_checkpoint(tmp_path_factory, tiny_base):
    directory = tmp_path_factory.mktemp("bce")
    split, pool = binary_split_and_pool(directory)
    return directory, split, pool, classification_checkpoint(tiny_base, split, directory / "ck")


def test_influence_and_check_on_a_classification_checkpoint(runner, binary_checkpoint) -> None:
    from sklearn.metrics import log_loss

    from molpeft_cli.training.checkpoint import load_finetuned
    from molpeft_cli.training.regression import encode, predict_encoded

    directory, split, pool, ck = binary_checkpoint
    tables = []
    for solver in ("exact", "projected"):
        out = directory / f"scores-{solver}.parquet"
        result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(pool), "--params",
                                 "head", "--solver", solver, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert json.loads((directory / f"scores-{solver}.parquet.manifest.json").read_text())["influence"][
            "task"] == "classification"
        tables.append(out)
    exact, projected = (pl.read_parquet(t)["score"].to_numpy() for t in tables)
    assert np.isfinite(exact).all() and spearmanr(exact, projected)[0] >= 0.9
    out = directory / "check.parquet"
    result = invoke(runner, ["influence-check", str(ck), "--train", str(split), "--pool", str(pool), "--scores",
                             str(tables[0]), "--subsets", "4", "--bootstrap", "200", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "LDS" in result.stderr
    check = pl.read_parquet(out)
    assert check.height == 1 and -1 <= check["lds"][0] <= 1
    retraining = json.loads((directory / "check.parquet.manifest.json").read_text())["retraining"]
    # the start loss is the checkpoint's validation log loss (sklearn on sigmoid of its logits)
    ft = load_finetuned(ck)
    valid = pl.read_parquet(split).filter(pl.col("split") == "valid")
    logits = predict_encoded(ft.model, encode(ft.tokenizer, valid["smiles_canonical"].to_list(), True).input_ids,
                             ft.tokenizer.pad_token_id)
    expected = log_loss(valid["label"].to_numpy(), 1 / (1 + np.exp(-logits)), labels=[0, 1])
    assert retraining["start_loss"] == pytest.approx(expected, rel=1e-6)
    assert len(retraining["measured_change"]) == 4 and any(v != 0 for v in retraining["measured_change"])
    assert retraining["task"] == "classification"


def test_a_classification_checkpoint_refuses_non_binary_labels(runner, binary_checkpoint, tmp_path) -> None:
    directory, split, pool, ck = binary_checkpoint
    bad = tmp_path / "pool.parquet"
    pl.read_parquet(pool).with_columns(pl.col("label") * 3.2).write_parquet(bad)
    result = invoke(runner, ["influence", str(ck), "--train", str(split), "--pool", str(bad), "--params", "head",
                             "-o", str(tmp_path / "s.parquet")])
    assert_one_line_error(result, "classification")
