"""A raw label column -> the task and the numbers the molecule table holds: continuous labels as they are
(regression), two label values of any spelling as 0/1 with the positive class named (binary classification).

The decision is made once on the whole column (`decide_labels`) and then applied row by row (`LabelRule.parse`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from molpeft_cli.errors import InputError, SettingError
from molpeft_cli.tasks import CLASSIFICATION, REGRESSION, TASK_CHOICES

# spellings of a binary label, positive first (compared trimmed and case-insensitively)
BINARY_PAIRS = (("true", "false"), ("yes", "no"), ("active", "inactive"), ("positive", "negative"),
                ("pos", "neg"), ("1", "0"), ("y", "n"), ("t", "f"))
SHOW_VALUES = 5


def parse_number(value) -> tuple[float | None, str | None]:
    """A regression label: the number, or None and the reason the row is rejected."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "missing label"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"non-numeric label {str(value)[:30]!r}"
    if not math.isfinite(number):
        return None, "missing label (NaN)" if math.isnan(number) else "infinite label"
    return number, None


def _text_key(value) -> str:
    return str(value).strip().lower()


def _is_missing(value) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    number, _ = _number(value)
    return number is not None and math.isnan(number)


def _number(value) -> tuple[float | None, bool]:
    """(float(value), True) when it reads as a number, else (None, False)."""
    try:
        return float(value), True
    except (TypeError, ValueError):
        return None, False


@dataclass(frozen=True)
class LabelRule:
    """How a column's raw labels become the table's numbers."""

    task: str
    numeric_keys: bool = True  # classification: the classes are compared as numbers (else as trimmed lowercase text)
    classes: dict = field(default_factory=dict)  # classification: key -> 1.0 (positive) or 0.0
    positive: str | None = None  # classification: the positive class as the file spells it
    negative: str | None = None
    reason: str = ""  # why this task / this positive class, for the log
    hint: str = ""  # what to give to decide otherwise, for the log; `{setting}` stands for `hint_setting`
    hint_setting: str = "task"

    @property
    def label_mapping(self) -> dict[str, str | None] | None:
        if self.task != CLASSIFICATION:
            return None
        return {"positive": self.positive, "negative": self.negative}

    def parse(self, value) -> tuple[float | None, str | None]:
        """The row's label (0.0/1.0 for classification), or None and why the row is rejected."""
        if self.task == REGRESSION:
            return parse_number(value)
        if value is None or (isinstance(value, str) and not value.strip()):
            return None, "missing label"
        if _is_missing(value):
            return None, "missing label (NaN)"
        key = _number(value)[0] if self.numeric_keys else _text_key(value)
        if key is not None and self.numeric_keys and not math.isfinite(key):
            return None, "infinite label"
        if key not in self.classes:
            return None, f"label {str(value)[:30]!r} is neither class"
        return self.classes[key], None


def _shown(values: Sequence) -> str:
    text = ", ".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in list(values)[:SHOW_VALUES])
    return text + (" ..." if len(values) > SHOW_VALUES else "")


def _first_spelling(raw: Sequence, key_of) -> dict:
    spelled: dict = {}
    for value in raw:
        spelled.setdefault(key_of(value), str(value).strip())
    return spelled


def decide_labels(raw: Sequence, task: str = "auto", positive_class: str | None = None,
                  column: str = "label") -> LabelRule:
    """The task and the label mapping for a raw label column (`task`: auto, regression or classification).

    auto: numbers with exactly the values 0 and 1, or non-numeric labels with two values, are classification;
    other numbers are regression. classification: two values of any spelling (a known pair such as
    true/false or active/inactive names its positive class; else `positive_class`, else the value that sorts
    last). More than two classes is refused (multi-class is not supported).
    """
    if task not in TASK_CHOICES:
        raise SettingError("task", f"unknown {{setting}} {task!r}; choose one of {', '.join(TASK_CHOICES)}")
    if task == REGRESSION:
        if positive_class is not None:
            raise SettingError("positive_class", "{setting} applies to classification, not to {task} regression")
        return LabelRule(REGRESSION, reason="as asked")
    present = [v for v in raw if not _is_missing(v)]
    if not present:  # no labels at all (an unlabeled pool): nothing to map
        return LabelRule(REGRESSION if task == "auto" else task, reason="no labels")
    numbers = [n for n, ok in map(_number, present) if ok]
    finite = sorted({n for n in numbers if math.isfinite(n)})
    if len(numbers) == len(present):  # every label reads as a number
        return _decide_numbers(present, finite, task, positive_class, column)
    if task == "auto" and len(finite) > 2:  # continuous labels with some text among them: rows rejected, as ever
        return _regression(positive_class, column, finite)
    spelled = _first_spelling(present, _text_key)
    keys = sorted(spelled)
    if len(keys) > 2:
        if len(finite) > 2:
            raise _continuous(column, finite)
        raise InputError(f"label column {column!r} has {len(keys)} distinct non-numeric values "
                         f"({_shown([spelled[k] for k in keys])}): not numbers for regression, and more than two "
                         "classes for classification (multi-class is not supported yet); keep two classes, or "
                         "give numbers")
    return _classes(keys, spelled, positive_class, column, numeric=False)


def _continuous(column: str, finite: list[float]) -> SettingError:
    return SettingError("task", f"{{setting}} classification needs two label values; column {column!r} holds "
                        f"continuous numbers ({len(finite)} distinct, e.g. {_shown(finite)}): use {{setting}} "
                        "regression or auto")


def _regression(positive_class: str | None, column: str, finite: list[float]) -> LabelRule:
    if positive_class is not None:
        raise SettingError("positive_class", f"{{setting}} applies to classification; column {column!r} holds "
                           f"continuous labels ({len(finite)} distinct values), so the task is regression")
    if len(finite) == 2:  # two numbers other than 0/1: auto keeps them as numbers, but say how to get classes
        return LabelRule(REGRESSION, reason=f"2 numeric label values ({_shown(finite)}), not 0/1",
                         hint="give {setting} classification to read them as two classes")
    return LabelRule(REGRESSION, reason=f"{len(finite)} distinct numeric label values")


def _decide_numbers(present: Sequence, finite: list[float], task: str, positive_class: str | None,
                    column: str) -> LabelRule:
    if task == "auto" and finite != [0.0, 1.0]:
        return _regression(positive_class, column, finite)
    if len(finite) > 2:
        raise _continuous(column, finite)
    spelled = _first_spelling([v for v in present if math.isfinite(float(v))], float)
    rule = _classes(finite, spelled, positive_class, column, numeric=True)
    if task == "auto":  # 0/1 numbers could be a measured quantity: say how to keep them as numbers
        return replace(rule, hint="give {setting} regression to keep them as numbers", hint_setting="task")
    return rule


def _classes(keys: list, spelled: dict, positive_class: str | None, column: str, numeric: bool) -> LabelRule:
    """Name the positive class among one or two values (`keys`, sorted) and build the rule."""
    hint = ""
    if positive_class is not None:
        wanted = _number(positive_class)[0] if numeric else _text_key(positive_class)
        if wanted is None or (wanted not in keys and len(keys) == 2):
            raise SettingError("positive_class", f"{{setting}} {positive_class!r} is not a label value of column "
                               f"{column!r} ({_shown([spelled[k] for k in keys])})")
        positive, reason = wanted, "as asked"
        if positive not in keys:  # one value present, not the positive one: every molecule is negative
            spelled = {**spelled, positive: str(positive_class).strip()}
    else:
        pair = next((p for p in BINARY_PAIRS if set(keys) <= set(p)), None) if not numeric else None
        if numeric and set(keys) <= {0.0, 1.0}:
            positive, reason = 1.0, "1 is the positive class"
        elif pair is not None:
            positive, reason = pair[0], f"the first of {pair[0]}/{pair[1]}"
            spelled = {pair[0]: pair[0], **spelled}
        elif len(keys) == 2:
            positive = keys[-1]
            reason = f"the {'larger value' if numeric else 'value that sorts last'}"
            hint = "give {setting} to choose the other"
        else:
            raise SettingError("positive_class", f"column {column!r} has one label value "
                               f"({_shown([spelled[k] for k in keys])}): give {{setting}} to say whether it is "
                               "the positive class")
    negatives = [k for k in keys if k != positive]
    negative = spelled[negatives[0]] if negatives else None
    if negative is None and not numeric:
        pair = next((p for p in BINARY_PAIRS if p[0] == positive), None)
        negative = pair[1] if pair else None
    classes = {positive: 1.0, **dict.fromkeys(negatives, 0.0)}
    return LabelRule(CLASSIFICATION, numeric_keys=numeric, classes=classes, positive=spelled[positive],
                     negative=negative, reason=reason, hint=hint, hint_setting="positive_class")
