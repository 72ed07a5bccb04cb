"""Train/valid/test splits with DeepChem's splitters (and a stratified random split of binary labels), plus a
split-quality summary (as the original study had; with class counts for binary labels)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from molpeft_cli.chem.fingerprints import max_tanimoto_to, morgan_fingerprints
from molpeft_cli.chem.quiet import import_deepchem
from molpeft_cli.chem.scaffolds import murcko_scaffolds
from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.tasks import is_binary

SPLITS = ("train", "valid", "test")
MIN_CLASS_MOLECULES = 10  # fewer molecules of a class in a split than this make its metrics noisy: warn
MIN_SPLIT_MOLECULES = 10  # a valid or test split this small gives metrics (and early stopping) that are noise: warn
FRACTION_TOLERANCE = 0.1  # a split further than this from its fraction (or empty) did not reach it: say why
# CLI name -> DeepChem splitter class name
STRATEGIES = {  # keys match choices.SPLIT_STRATEGIES
    "random": "RandomSplitter",
    "scaffold": "ScaffoldSplitter",
    "weight": "MolecularWeightSplitter",
    "maxmin": "MaxMinSplitter",
    "butina": "ButinaSplitter",
    "fingerprint": "FingerprintSplitter",
}


def check_fractions(frac) -> tuple[float, float, float]:
    """The train, valid, test fractions: three finite numbers, none negative, train above 0, summing to 1."""
    frac = tuple(frac)
    if len(frac) != 3:
        raise SettingError("frac", f"{{setting}} takes three numbers (train valid test), got {len(frac)}")
    if not all(isinstance(f, int | float) and not isinstance(f, bool) and math.isfinite(f) for f in frac):
        raise SettingError("frac", f"{{setting}} takes three finite numbers (train valid test), got {list(frac)}")
    if any(f < 0 for f in frac) or frac[0] <= 0:
        raise SettingError("frac", f"{{setting}}: fractions must be non-negative with a positive train fraction, "
                           f"got {list(frac)}")
    if not math.isclose(sum(frac), 1.0, abs_tol=1e-6):
        raise SettingError("frac", f"{{setting}}: fractions must sum to 1, got {list(frac)} (sum {sum(frac):g})")
    return frac


def stratified_random_assignment(labels: np.ndarray, frac: tuple[float, float, float], seed: int) -> np.ndarray:
    """train/valid/test for each molecule: every class is shuffled (seeded) and cut at the fractions on its own,
    so each split holds the classes in the proportions of the whole table (to within one molecule per class)."""
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(labels), dtype=object)
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        members = members[rng.permutation(len(members))]
        n = len(members)
        cut_train = int(np.floor(frac[0] * n + 0.5))
        cut_valid = max(cut_train, int(np.floor((frac[0] + frac[1]) * n + 0.5)))
        assignment[members[:cut_train]] = "train"
        assignment[members[cut_train:cut_valid]] = "valid"
        assignment[members[cut_valid:]] = "test"
    return assignment


def split_molecules(
    table: pl.DataFrame, strategy: str, frac: tuple[float, float, float], seed: int, stratify: bool = False
) -> pl.DataFrame:
    """Return the table with `split` (train/valid/test) and `scaffold` columns, using DeepChem's splitter;
    `stratify` (random only, binary labels): each split keeps the class proportions."""
    if strategy not in STRATEGIES:
        raise MolpeftError(f"unknown split strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    check_fractions(frac)
    if table.height < 3:
        raise MolpeftError(f"need at least 3 molecules to split, got {table.height}")
    smiles = table["smiles_canonical"].to_list()
    if stratify:
        check_stratify(strategy, table["label"])
        assignment = stratified_random_assignment(table["label"].to_numpy(), frac, seed)
        return table.with_columns(
            pl.Series("split", assignment.tolist(), dtype=pl.String),
            pl.Series("scaffold", murcko_scaffolds(smiles), dtype=pl.String),
        )
    dc = import_deepchem()
    labels = table["label"].fill_null(float("nan")).to_numpy()
    dataset = dc.data.NumpyDataset(X=np.zeros((len(smiles), 1)), y=labels, ids=np.array(smiles, dtype=object))
    splitter = getattr(dc.splits, STRATEGIES[strategy])()
    state = np.random.get_state()  # DeepChem seeds numpy's global RNG; leave the caller's untouched
    try:
        train, valid, test = splitter.split(
            dataset, frac_train=frac[0], frac_valid=frac[1], frac_test=frac[2], seed=seed
        )
    finally:
        np.random.set_state(state)
    assignment = np.empty(len(smiles), dtype=object)
    for name, idx in zip(SPLITS, (train, valid, test), strict=True):
        assignment[np.asarray(idx, dtype=int)] = name
    if any(a is None for a in assignment):
        raise MolpeftError(f"splitter {strategy} left some molecules unassigned")
    return table.with_columns(
        pl.Series("split", assignment.tolist(), dtype=pl.String),
        pl.Series("scaffold", murcko_scaffolds(smiles), dtype=pl.String),
    )


def check_stratify(strategy: str, labels: pl.Series | None = None) -> None:
    """Stratification is for the random strategy and binary (0/1) labels."""
    if strategy != "random":
        raise SettingError("stratify", f"{{setting}} applies to the random split strategy only, not to "
                           f"{strategy}; use {{strategy}} random, or leave out {{setting}}")
    if labels is not None and not is_binary(labels.to_list()):
        raise SettingError("stratify", "{setting} needs binary labels (0 and 1, as the data step writes for "
                           f"classification); these have {labels.n_unique()} distinct values")


def class_counts(table: pl.DataFrame) -> dict[str, dict[str, int]] | None:
    """Positive and negative molecules per split, when the labels are binary (else None)."""
    if not is_binary(table["label"].to_list()):
        return None
    counts = {}
    for name in SPLITS:
        labels = table.filter(pl.col("split") == name)["label"].drop_nulls()
        positive = int((labels == 1.0).sum())
        counts[name] = {"positive": positive, "negative": labels.len() - positive}
    return counts


def thin_classes(counts: dict[str, dict[str, int]], least: int = MIN_CLASS_MOLECULES) -> list[str]:
    """'test: 4 positive'-style notes for every non-empty split with fewer than `least` molecules of a class."""
    notes = []
    for name, per_class in counts.items():
        few = [f"{n} {kind}" for kind, n in per_class.items() if n < least]
        if few and sum(per_class.values()):  # an empty split is warned about on its own
            notes.append(f"{name}: {' and '.join(few)}")
    return notes


def fraction_shortfall(table: pl.DataFrame, strategy: str, frac: tuple[float, float, float]) -> str | None:
    """Why a split did not reach its fractions (a split empty, or further than FRACTION_TOLERANCE from its share)
    and what to do, as a SettingError template of `frac` (naming {strategy} too); None when it did. For the
    scaffold strategy, the scaffold group too large to place is named: DeepChem's ScaffoldSplitter fills train,
    then valid, then test with whole groups, largest first, so a group larger than a split's share goes to the
    next split that can take it."""
    n = table.height
    counts = dict(zip(*table["split"].value_counts().to_dict(as_series=False).values(), strict=True))
    shares = [counts.get(name, 0) / n for name in SPLITS]
    missed = [name for name, want, got in zip(SPLITS, frac, shares, strict=True)
              if (want > 0 and got == 0) or abs(got - want) > FRACTION_TOLERANCE]
    if not missed:
        return None
    reached = " / ".join(f"{name} {got:.0%}" for name, got in zip(SPLITS, shares, strict=True))
    wanted = "/".join(f"{f:g}" for f in frac)
    empty = [name for name, want, got in zip(SPLITS, frac, shares, strict=True) if want > 0 and got == 0]
    off = f"left {' and '.join(empty)} empty" if empty else f"missed the {' and '.join(missed)} fraction"
    text = f"the {strategy} split of {n} molecules {off}: it reached {reached} instead of {wanted}"
    if strategy == "scaffold" and "scaffold" in table.columns:
        groups = table.group_by("scaffold").len().sort(["len", "scaffold"], descending=[True, False])
        scaffold, size = groups.row(0)
        share = size / n
        if share > min(f for f in frac if f > 0) and groups.height < n:
            shown = repr(scaffold) if scaffold else "'' (acyclic molecules)"
            text += (f": the scaffold group {shown} holds {size} molecules ({share:.0%}), and a scaffold group is "
                     "never divided")
            if share < 0.95:
                train = math.ceil(share * 100 + 1) / 100
                rest = 1 - train
                valid = round(rest * frac[1] / (frac[1] + frac[2]), 2) if frac[1] + frac[2] > 0 else 0.0
                text += (f"; use {{strategy}} random (or butina, maxmin, fingerprint), or fractions that fit it "
                         f"(e.g. {{setting}} {train:g} {valid:g} {max(rest - valid, 0):.2g})")
            else:
                text += "; no {setting} can fit it: use {strategy} random (or butina, maxmin, fingerprint)"
            return text
    return text + "; use more molecules, other fractions ({setting}), or another {strategy}"


def thin_splits(table: pl.DataFrame, least: int = MIN_SPLIT_MOLECULES) -> list[str]:
    """'valid: 4'-style notes for every non-empty valid/test split with fewer than `least` molecules."""
    counts = dict(zip(*table["split"].value_counts().to_dict(as_series=False).values(), strict=True))
    return [f"{name}: {counts[name]}" for name in ("valid", "test") if 0 < counts.get(name, 0) < least]


@dataclass
class SplitSummary:
    strategy: str
    per_split: dict[str, dict[str, float]]
    shared_scaffolds: dict[str, int]
    test_max_tanimoto_mean: float
    test_max_tanimoto_median: float
    class_counts: dict[str, dict[str, int]] | None = None  # binary labels: positive/negative per split
    shortfall: str | None = None  # why the fractions were not reached (fraction_shortfall), when they were not
    small_splits: list[str] | None = None  # valid/test splits under MIN_SPLIT_MOLECULES (thin_splits), if any

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "per_split": self.per_split,
            "shared_scaffolds": self.shared_scaffolds,
            "test_max_tanimoto_to_train": {
                "mean": self.test_max_tanimoto_mean,
                "median": self.test_max_tanimoto_median,
            },
            **({"class_counts": self.class_counts} if self.class_counts is not None else {}),
            **({"shortfall": self.shortfall} if self.shortfall is not None else {}),
            **({"small_splits": self.small_splits} if self.small_splits else {}),
        }

    def comparison_row(self) -> dict:
        row: dict = {"strategy": self.strategy}
        total = sum(s["n"] for s in self.per_split.values())
        for name in SPLITS:
            s = self.per_split[name]
            row[f"n_{name}"] = s["n"]
            row[f"frac_{name}"] = s["n"] / total if total else 0.0
            row[f"label_mean_{name}"] = s["label_mean"]
            row[f"label_sd_{name}"] = s["label_sd"]
            row[f"scaffolds_{name}"] = s["scaffolds"]
            if self.class_counts is not None:
                row[f"positive_{name}"] = self.class_counts[name]["positive"]
        row["shared_scaffolds_total"] = self.shared_scaffolds["any"]
        row["test_max_tanimoto_mean"] = self.test_max_tanimoto_mean
        row["test_max_tanimoto_median"] = self.test_max_tanimoto_median
        return row


def summarize_split(table: pl.DataFrame, strategy: str) -> SplitSummary:
    """Per split n, label mean/sd, unique scaffolds; scaffolds shared between splits; test-to-train similarity."""
    per_split: dict[str, dict[str, float]] = {}
    scaffold_sets: dict[str, set[str]] = {}
    for name in SPLITS:
        part = table.filter(pl.col("split") == name)
        labels = part["label"].drop_nulls()
        per_split[name] = {
            "n": part.height,
            "label_mean": _finite(labels.mean()) if labels.len() else float("nan"),
            "label_sd": _finite(labels.std()) if labels.len() > 1 else float("nan"),
            "scaffolds": part["scaffold"].n_unique(),
        }
        scaffold_sets[name] = set(part["scaffold"].to_list())
    shared = {
        "train_valid": len(scaffold_sets["train"] & scaffold_sets["valid"]),
        "train_test": len(scaffold_sets["train"] & scaffold_sets["test"]),
        "valid_test": len(scaffold_sets["valid"] & scaffold_sets["test"]),
    }
    shared["any"] = len(
        (scaffold_sets["train"] & scaffold_sets["valid"])
        | (scaffold_sets["train"] & scaffold_sets["test"])
        | (scaffold_sets["valid"] & scaffold_sets["test"])
    )
    train_fps = morgan_fingerprints(table.filter(pl.col("split") == "train")["smiles_canonical"].to_list())
    test_fps = morgan_fingerprints(table.filter(pl.col("split") == "test")["smiles_canonical"].to_list())
    sims = max_tanimoto_to(test_fps, train_fps)
    return SplitSummary(
        strategy=strategy,
        per_split=per_split,
        shared_scaffolds=shared,
        test_max_tanimoto_mean=float(sims.mean()) if sims.size else float("nan"),
        test_max_tanimoto_median=float(np.median(sims)) if sims.size else float("nan"),
        class_counts=class_counts(table),
    )


def _finite(value) -> float:
    return float(value) if value is not None else float("nan")
