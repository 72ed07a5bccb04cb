"""The task rules every command shares: auto = exactly the labels 0 and 1 -> classification."""

from __future__ import annotations

import math

import pytest

from molpeft_cli.errors import SettingError
from molpeft_cli.tasks import HIGHER_IS_BETTER, MAIN_METRIC, METRICS, detect_task, resolve_task


def test_auto_reads_two_values_zero_and_one_as_classification():
    assert detect_task([0.0, 1.0, 1.0, None, math.nan]) == "classification"
    assert detect_task([0.0, 0.0]) == "regression"  # one class only: not a binary endpoint
    assert detect_task([1.2, 3.4]) == "regression"  # two values that are not 0/1 (data maps those first)
    assert resolve_task("auto", [1, 0, 1]) == "classification"
    assert resolve_task("regression", [1, 0, 1]) == "regression"  # the user's word wins


def test_classification_on_continuous_labels_is_one_clear_error():
    with pytest.raises(SettingError, match="needs labels 0 and 1"):
        resolve_task("classification", [0.5, 1.5, 2.5])
    with pytest.raises(SettingError, match="unknown"):
        resolve_task("multiclass", [0, 1])


def test_each_task_names_its_metrics_and_main_metric():
    for task, columns in METRICS.items():
        assert MAIN_METRIC[task] in columns
        assert all(c in HIGHER_IS_BETTER for c in columns if c not in ("n", "n_positive"))
    assert not set(METRICS["classification"]) & {"mse", "r2"}
