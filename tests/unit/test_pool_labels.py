"""The pool is checked against the dataset: the same task, and a warning when its labels sit outside the dataset's."""

from __future__ import annotations

import polars as pl

from molpeft_cli.chem.audit import label_mismatch


def _table(labels):
    return pl.DataFrame({"label": [float(v) for v in labels]})


def test_a_pool_of_the_other_task_is_an_error():
    error, _ = label_mismatch(_table([0.5 * i for i in range(50)]), _table([0, 1, 1, 0]))
    assert error and "classification labels but the dataset's are regression" in error
    error, _ = label_mismatch(_table([0, 1] * 10), _table([2.5, 3.1]))
    assert error and "regression labels but the dataset's are classification" in error


def test_a_regression_pool_far_outside_the_dataset_is_recorded():
    dataset = _table(range(100))  # 1st-99th percentile: 0.99 .. 98.01
    assert label_mismatch(dataset, _table([40, 50, 60])) == (None, None)
    error, shift = label_mismatch(dataset, _table([1000, 1200]))
    assert error is None and shift == {"pool_median": 1100.0, "dataset_p1": 0.99, "dataset_p99": 98.01}


def test_a_binary_pool_of_one_class_is_recorded_and_unlabelled_tables_pass():
    assert label_mismatch(_table([0, 1] * 5), _table([1, 1, 1]))[1] == {"pool_classes": [1.0], "n": 3}
    assert label_mismatch(_table([0, 1] * 5), pl.DataFrame({"label": [None, None]}, schema={"label": pl.Float64})) \
        == (None, None)
