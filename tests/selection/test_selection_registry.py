"""What each strategy declares (inputs, k) and how the select step uses it: no strategy is named outside its module
and its registry entry."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from selection_helpers import lipophilicity_pool

import molpeft_cli
from molpeft_cli.choices import SELECTION_STRATEGIES
from molpeft_cli.errors import SettingError
from molpeft_cli.selection import NEEDS, REGISTRY, SelectionInputs, Strategy
from molpeft_cli.steps.select import SelectConfig


def test_every_strategy_declares_its_inputs_and_whether_it_takes_k():
    assert tuple(REGISTRY) == SELECTION_STRATEGIES
    for entry in REGISTRY.values():
        assert isinstance(entry.needs, frozenset) and entry.needs <= set(NEEDS), entry.name
        assert isinstance(entry.takes_k, bool), entry.name
    declared = {name: (sorted(e.needs), e.takes_k) for name, e in REGISTRY.items()}
    assert declared == {"all": ([], False), "random": ([], True), "maxmin": (["train"], True),
                        "mcdropout": (["model"], True), "influence": (["scores"], True),
                        "egl": (["model"], True), "kcenter": (["model", "train"], True), "badge": (["model"], True),
                        "lcmd": (["model", "train"], True), "gradsim": (["model", "valid"], True)}


def test_an_unknown_input_is_refused_at_registration():
    with pytest.raises(ValueError, match="unknown inputs"):
        random = REGISTRY["random"]
        Strategy("x", random.config_cls, random.select, ("mol_id",), "", needs=frozenset({"gpu"}))


@pytest.mark.parametrize("strategy, setting", [("mcdropout", "model"), ("influence", "scores")])
def test_a_missing_required_input_names_its_setting(strategy, setting):
    pool = lipophilicity_pool(5)
    with pytest.raises(SettingError) as caught:
        REGISTRY[strategy].context(SelectionInputs(pool))
    assert caught.value.setting == setting
    assert str(caught.value).startswith(f"strategy {strategy} needs {setting} (")


def test_maxmin_reads_the_train_split_when_given():
    import polars as pl

    pool = lipophilicity_pool(4)
    split = lipophilicity_pool(6, offset=10).with_columns(pl.Series("split", ["train"] * 3 + ["valid"] * 3))
    _, context = REGISTRY["maxmin"].context(SelectionInputs(pool, train=split))
    assert context.train_smiles == split["smiles_canonical"].to_list()[:3]
    assert REGISTRY["maxmin"].context(SelectionInputs(pool))[1].train_smiles is None  # optional
    with pytest.raises(SettingError, match="train needs a split table"):
        REGISTRY["maxmin"].context(SelectionInputs(pool, train=pool))


def test_the_manifest_params_come_from_the_config():
    c = SelectConfig(pool="p.parquet", output="o.parquet", strategy="maxmin", k=7, threshold=0.4,
                     exclude="s.parquet", exclude_splits="valid, test,", train="t.parquet", passes=9, truncate=False,
                     bf16=True, seed=3)
    # the dict listed by hand before issue 22: same keys, same order, same values
    assert list(c.params().items()) == [("strategy", "maxmin"), ("k", 7), ("threshold", 0.4),
                                        ("exclude_splits", ["valid", "test"]), ("passes", 9), ("truncate", False),
                                        ("bf16", True)]


def test_the_selection_package_loads_without_polars_numpy_or_torch():
    blocked = ("polars", "numpy", "torch", "rdkit")
    code = (f"import sys; [sys.modules.__setitem__(m, None) for m in {blocked!r}]\n"
            "from molpeft_cli.selection import REGISTRY\n"
            "from molpeft_cli.selection.mc_dropout import mc_dropout_predictions\n"
            "print(sorted(REGISTRY['mcdropout'].needs))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(molpeft_cli.__file__).parent.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['model']"


def test_the_cli_shows_a_logged_setting_as_its_flag():
    from molpeft_cli.cli.app import SettingFlags  # importing the app registers the commands and their flags

    message = SettingError("max_epochs", "not converged within {setting} 2 (raise {setting}; {no_truncate})")
    record = logging.LogRecord("molpeft_cli.x", logging.WARNING, __file__, 1, message, (), None)
    assert record.getMessage() == "not converged within max_epochs 2 (raise max_epochs; no_truncate)"
    assert SettingFlags("finetune").filter(record)
    assert record.getMessage() == "not converged within --max-epochs 2 (raise --max-epochs; --no-truncate)"
