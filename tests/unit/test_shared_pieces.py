"""The pieces kept in one place: registry names, cell naming, the losses of each task, the training loops'
early stopping / AdamW groups, order-keeping batches, and the config <-> command-line round trip."""

from __future__ import annotations

import math

import pytest
import torch

from molpeft_cli.choices import ADAPTERS, SELECTION_STRATEGIES, SELECTIONS


def test_registries_hold_exactly_the_names_everything_else_reads():
    from molpeft_cli.adapters import REGISTRY as ADAPTER_REGISTRY
    from molpeft_cli.pipeline import profiles
    from molpeft_cli.report import collect
    from molpeft_cli.selection import REGISTRY as SELECTION_REGISTRY
    from molpeft_cli.training.options import PEFT_METHODS

    assert tuple(ADAPTER_REGISTRY) == ADAPTERS == PEFT_METHODS == profiles.ADAPTERS == collect.ADAPTER_ORDER
    assert set(SELECTION_REGISTRY) == set(SELECTION_STRATEGIES)
    # the study grid: the original study's five strategies and none; the registry has the field's strategies too
    assert set(SELECTIONS) == {"none", *SELECTION_STRATEGIES[:5]} and profiles.SELECTIONS == collect.SELECTION_ORDER


@pytest.mark.parametrize("key", [("two-stage", "lora", "mcdropout", 0), ("direct", "full", "none", 12),
                                 ("a-b-c", "ia3", "all", 3)])
def test_cell_names_read_back(key):
    from molpeft_cli.cells import CellKey, cell_name, parse_cell_name

    assert parse_cell_name(cell_name(*key)) == CellKey(*key)
    assert parse_cell_name("two-stage-lora") is None


def test_plan_and_report_share_the_naming(tmp_path):
    from molpeft_cli.cells import parse_cell_name, parse_selection_name
    from molpeft_cli.pipeline.plan import build_plan
    from molpeft_cli.pipeline.profiles import PROFILES

    plan = build_plan(tmp_path, PROFILES["quick"], [0, 1], list(ADAPTERS), list(SELECTIONS), None, None)
    cells = {parse_cell_name(s.output.name) for s in plan.steps if s.argv[0] == "finetune"}
    assert {(c.adapter, c.selection) for c in cells if c.variant == "two-stage"} == \
        {(a, s) for a in ADAPTERS for s in SELECTIONS}
    picks = {parse_selection_name(s.output.name[: -len(".parquet")]) for s in plan.steps if s.argv[0] == "select"}
    assert picks == {(s, seed) for s in SELECTIONS if s != "none" for seed in (0, 1)}


def test_regression_loss_is_the_mean_squared_error():
    from molpeft_cli.model.heads import regression_loss

    logits = torch.tensor([[0.5], [2.0], [-1.0]])
    labels = torch.tensor([1.0, 1.0, 1.0])
    assert regression_loss(logits, labels).item() == pytest.approx((0.25 + 1.0 + 4.0) / 3)
    half = regression_loss(logits.to(torch.bfloat16), labels)
    assert half.dtype == torch.float32 and half.item() == pytest.approx((0.25 + 1.0 + 4.0) / 3)


def test_masked_lm_loss_averages_over_the_chosen_positions_only():
    from molpeft_cli.model.heads import IGNORE_INDEX, chosen_token_loss, masked_lm_loss

    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [[0.0, 0.0, 3.0], [1.0, 1.0, 1.0]]])
    labels = torch.tensor([[0, IGNORE_INDEX], [1, IGNORE_INDEX]])

    def nll(row, gold):  # -log softmax, by hand
        return -(row[gold] - math.log(sum(math.exp(v) for v in row)))

    expected = (nll([2.0, 0.0, 0.0], 0) + nll([0.0, 0.0, 3.0], 1)) / 2
    assert masked_lm_loss(logits, labels).item() == pytest.approx(expected)
    assert chosen_token_loss(logits[labels != IGNORE_INDEX], labels[labels != IGNORE_INDEX]).item() == \
        pytest.approx(expected)


@pytest.mark.parametrize(("zero_disables", "values", "stops_after"), [
    (False, [3.0, 2.0, 2.5, 2.4, 1.0], 4),  # patience 2: two evaluations without a better value
    (True, [3.0, 2.0, 2.5, 2.4, 1.0], 4),
])
def test_early_stopping(zero_disables, values, stops_after):
    from molpeft_cli.training.loop import EarlyStopping

    stopping = EarlyStopping(2, zero_disables=zero_disables)
    for step, value in enumerate(values, 1):
        stopping.update(value, step)
        if stopping.should_stop():
            break
    assert step == stops_after and (stopping.best, stopping.best_step) == (2.0, 2)


def test_patience_zero_means_one_evaluation_or_never():
    from molpeft_cli.training.loop import EarlyStopping

    finetune, mlm = EarlyStopping(0), EarlyStopping(0, zero_disables=True)
    for stopping in (finetune, mlm):
        stopping.update(1.0, 1)
    assert finetune.should_stop() and not mlm.should_stop()


def test_adamw_groups():
    from molpeft_cli.training.optim import build_adamw

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    head = torch.nn.Linear(2, 1)
    decayed, plain = build_adamw([model, head], 1e-3, 0.01).param_groups
    assert [p.ndim for p in decayed["params"]] == [2, 2] and decayed["weight_decay"] == 0.01
    assert [p.ndim for p in plain["params"]] == [1, 1, 1, 1] and plain["weight_decay"] == 0.0
    assert decayed["params"][1] is head.weight and plain["params"][3] is head.bias  # module order kept
    model[0].weight.requires_grad_(False)
    (only,) = build_adamw(torch.nn.Sequential(model[0]), 1e-3, 0.01).param_groups  # empty groups left out
    assert only["params"] == [model[0].bias] and only["weight_decay"] == 0.0


def test_adamw_is_constructed_in_one_place():
    """Every training loop (fine-tuning, MLM, the influence check's retraining) gets its AdamW from
    training.optim.build_adamw."""
    from pathlib import Path

    import molpeft_cli

    package = Path(molpeft_cli.__file__).parent
    places = [f"{path.relative_to(package)}:{n}" for path in sorted(package.rglob("*.py"))
              for n, line in enumerate(path.read_text().splitlines(), 1) if "torch.optim.AdamW(" in line]
    assert len(places) == 1 and places[0].startswith("training/optim.py:"), places


def test_in_order_batches_keep_rows_in_place():
    from molpeft_cli.training.batching import iter_batches

    ids = [[1, 2, 3], [1], [1, 2], [1, 2, 3, 4], [1]]
    batches = list(iter_batches(ids, 2, 0, shuffle=False, in_order=True, labels=[0.5, 1.5, 2.5, 3.5, 4.5]))
    assert [b.indices for b in batches] == [[0, 1], [2, 3], [4]]
    assert batches[0].input_ids.tolist() == [[1, 2, 3], [1, 0, 0]] and batches[1].labels.tolist() == [2.5, 3.5]


def test_config_round_trips_through_its_command_line():
    from molpeft_cli.schema import parse_args, to_args
    from molpeft_cli.steps.finetune import FinetuneConfig
    from molpeft_cli.steps.select import SelectConfig
    from molpeft_cli.training.options import FinetuneOptions

    config = FinetuneConfig("s.parquet", output="o", extra=["a.parquet", "b.parquet"], seed=3,
                            recipe=FinetuneOptions(peft="lora", lr=5e-4, truncate=True, bf16=True, lora_alpha=32.0))
    args = to_args(config)
    assert args[:1] == ["s.parquet"] and "--lr" in args and "--bf16" in args and args.count("--extra") == 2
    assert parse_args(FinetuneConfig, args) == config
    select = SelectConfig("pool.parquet", output="-", strategy="mcdropout", k=5, truncate=False, bf16=True)
    assert parse_args(SelectConfig, to_args(select)) == select


def test_the_full_profile_extends_a_quick_run_step_for_step(tmp_path):
    """`run --profile full` on a finished quick run re-runs only the report: every other quick step is one of the
    full study's steps with the same command line and output (so it is up to date there)."""
    from molpeft_cli.pipeline.plan import build_plan
    from molpeft_cli.pipeline.profiles import PROFILES

    def steps(name, seeds):
        plan = build_plan(tmp_path, PROFILES[name], seeds, list(ADAPTERS), list(SELECTIONS), None, None)
        return {s.name: (s.argv, s.output) for s in plan.steps}

    quick, full = steps("quick", [0]), steps("full", [0, 1, 2])
    shared = {name for name in quick if quick[name] == full.get(name)}
    assert set(quick) - shared == {"report"}
    assert PROFILES["full"].seeds == (0, 1, 2) and len(full) > 2 * len(quick)


def test_batch_dicts_are_consecutive_rows_or_shuffled_minibatches():
    from molpeft_cli.training.batching import batch_dicts, collate

    ids = [[1, 2, 3], [1], [1, 2], [1, 2, 3, 4], [1]]
    labels = [0.5, 1.5, 2.5, 3.5, 4.5]
    in_order = batch_dicts(ids, 2, 0, labels=labels)
    assert [sorted(b) for b in in_order] == [["attention_mask", "input_ids", "labels"]] * 3
    for start, batch in zip((0, 2, 4), in_order, strict=True):
        padded, mask = collate(ids[start:start + 2], 0)
        assert torch.equal(batch["input_ids"], padded) and torch.equal(batch["attention_mask"], mask)
        assert batch["labels"].tolist() == labels[start:start + 2]
    shuffled = batch_dicts(ids, 2, 0, labels=labels, shuffle=True, seed=3)
    assert sorted(v for b in shuffled for v in b["labels"].tolist()) == labels
