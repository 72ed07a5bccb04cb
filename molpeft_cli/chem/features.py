"""Extra molecule features for the regression head (`finetune --features`), the way chemprop's
`--molecule-featurizers` adds them: computed by RDKit from the canonical SMILES, standardised with the training
split's mean and sd, and concatenated to the pooled embedding.

Sets:
- `rdkit2d`: every descriptor in RDKit's `Descriptors.descList` (about 210, the list depends on the RDKit version:
  the names are stored with the checkpoint and a different list at prediction is an error, not a silent shift);
- `morgan-count`: folded Morgan count fingerprint, radius 2, 2048 positions (the random-forest baseline's).

Standardised values are clipped to +-CLIP (a descriptor such as Ipc spans dozens of orders of magnitude, and one
molecule far outside the training range would otherwise dominate the head); a value RDKit cannot compute (NaN,
inf) becomes the training mean, i.e. 0. The statistics are written to `features.safetensors` beside the weights.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from molpeft_cli.choices import FEATURE_SETS
from molpeft_cli.errors import MolpeftError

__all__ = ["FEATURE_SETS", "MoleculeFeatures", "morgan_counts", "rdkit2d"]

FEATURES_FILE = "features.safetensors"
CLIP = 10.0


def _mol(text: str):
    from rdkit import Chem

    mol = Chem.MolFromSmiles(text) if text else None
    if mol is None:
        raise MolpeftError(f"RDKit cannot parse {text!r}")
    return mol


def rdkit2d_names() -> list[str]:
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors.descList]


def rdkit2d(smiles: Sequence[str]) -> np.ndarray:
    """[n, len(rdkit2d_names())] float64; NaN where RDKit fails on one descriptor of one molecule."""
    from rdkit import rdBase
    from rdkit.Chem import Descriptors

    functions = [fn for _, fn in Descriptors.descList]
    out = np.full((len(smiles), len(functions)), math.nan)
    for i, text in enumerate(smiles):
        mol = _mol(text)
        with rdBase.BlockLogs():  # a descriptor that fails on one molecule gives NaN here, not a log line
            for j, fn in enumerate(functions):
                try:
                    out[i, j] = float(fn(mol))
                except Exception:  # noqa: BLE001 - RDKit descriptors raise assorted errors on odd molecules
                    pass
    return out


def morgan_counts(smiles: Sequence[str], radius: int | None = None, n_bits: int | None = None) -> np.ndarray:
    """Folded Morgan count fingerprints, [n, n_bits] float64 (default: the tool's one fingerprint, radius 2, 2048)."""
    from rdkit.Chem import rdFingerprintGenerator

    from molpeft_cli.chem.fingerprints import MORGAN_BITS, MORGAN_RADIUS

    radius = MORGAN_RADIUS if radius is None else radius
    n_bits = MORGAN_BITS if n_bits is None else n_bits

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    out = np.zeros((len(smiles), n_bits))
    for i, text in enumerate(smiles):
        out[i] = generator.GetCountFingerprintAsNumPy(_mol(text))
    return out


def set_names(kind: str) -> list[str]:
    if kind == "rdkit2d":
        return [f"rdkit2d:{name}" for name in rdkit2d_names()]
    if kind == "morgan-count":
        from molpeft_cli.chem.fingerprints import MORGAN_BITS

        return [f"morgan-count:{i}" for i in range(MORGAN_BITS)]
    raise MolpeftError(f"unknown feature set {kind!r}; choose from {', '.join(FEATURE_SETS)}")


def raw_features(kinds: Sequence[str], smiles: Sequence[str]) -> np.ndarray:
    """The sets' raw values side by side, [n, total], float64."""
    parts = []
    for kind in kinds:
        set_names(kind)  # validates the name
        parts.append(rdkit2d(smiles) if kind == "rdkit2d" else morgan_counts(smiles))
    return np.hstack(parts) if parts else np.zeros((len(smiles), 0))


def check_sets(kinds: Sequence[str]) -> tuple[str, ...]:
    """The sets in the order given, each once; an unknown name is an error."""
    unknown = [k for k in kinds if k not in FEATURE_SETS]
    if unknown:
        raise MolpeftError(f"unknown feature set(s) {', '.join(map(repr, unknown))}; choose from "
                           f"{', '.join(FEATURE_SETS)}")
    return tuple(dict.fromkeys(kinds))


@dataclass
class MoleculeFeatures:
    """Which sets, their column names, and the training split's mean and sd of each column."""

    sets: tuple[str, ...]
    names: list[str]
    mean: np.ndarray
    std: np.ndarray

    @property
    def dim(self) -> int:
        return len(self.names)

    @classmethod
    def fit(cls, kinds: Sequence[str], smiles: Sequence[str]) -> MoleculeFeatures:
        """Statistics over `smiles` (the training split): mean and sd of the finite values per column (sd 1 where
        a column is constant or has no finite value)."""
        sets = check_sets(kinds)
        return cls.from_values(sets, raw_features(sets, smiles))

    @classmethod
    def from_values(cls, sets: tuple[str, ...], values: np.ndarray) -> MoleculeFeatures:
        """`fit` on raw values already computed (`raw_features(sets, training smiles)`)."""
        if not len(values):
            raise MolpeftError("features: no training molecules to standardise the features on")
        from molpeft_cli.chem.descriptors import zscore_stats

        names = [name for kind in sets for name in set_names(kind)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: zscore_stats gives them 0 and 1
            mean, std = zscore_stats(np.where(np.isfinite(values), values, np.nan))
        return cls(sets, names, mean, std)

    def transform(self, smiles: Sequence[str]) -> np.ndarray:
        """Standardised features, [n, dim] float32: (x - mean) / sd, non-finite -> 0, clipped to +-CLIP."""
        current = [name for kind in self.sets for name in set_names(kind)]
        if current != self.names:
            from rdkit import __version__ as rdkit_version

            missing = sorted(set(self.names) - set(current))
            raise MolpeftError(f"this RDKit ({rdkit_version}) computes other {'/'.join(self.sets)} features than "
                               f"the checkpoint was trained with ({len(current)} vs {len(self.names)} columns"
                               f"{', missing ' + ', '.join(missing[:3]) if missing else ''}); use the RDKit "
                               "version recorded in finetune.json")
        return self.standardise(raw_features(self.sets, smiles))

    def standardise(self, values: np.ndarray) -> np.ndarray:
        """Raw values ([n, dim], from `raw_features(self.sets, ...)`) -> the head's inputs, float32."""
        with np.errstate(all="ignore"):
            z = (values - self.mean) / self.std
        z = np.where(np.isfinite(z), z, 0.0)
        return np.clip(z, -CLIP, CLIP).astype(np.float32)

    def describe(self) -> dict:
        """What finetune.json records (the statistics themselves are in FEATURES_FILE)."""
        from rdkit import __version__ as rdkit_version

        return {"sets": list(self.sets), "dim": self.dim, "file": FEATURES_FILE, "clip": CLIP,
                "rdkit": rdkit_version}

    def save(self, directory: Path) -> None:
        import torch
        from safetensors.torch import save_file

        save_file({"mean": torch.as_tensor(self.mean, dtype=torch.float64),
                   "std": torch.as_tensor(self.std, dtype=torch.float64)},
                  str(Path(directory) / FEATURES_FILE), metadata={"names": "\n".join(self.names)})

    @classmethod
    def load(cls, directory: Path, record: dict) -> MoleculeFeatures:
        from safetensors import safe_open

        path = Path(directory) / record.get("file", FEATURES_FILE)
        if not path.is_file():
            raise MolpeftError(f"{directory} was trained with extra features ({', '.join(record.get('sets', []))}) "
                               f"but lacks {path.name}, their statistics; the checkpoint is incomplete")
        try:
            with safe_open(str(path), framework="pt") as fh:
                names = (fh.metadata() or {}).get("names", "").split("\n")
                mean, std = fh.get_tensor("mean").numpy(), fh.get_tensor("std").numpy()
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types for damaged files
            raise MolpeftError(f"{path} is not readable ({type(exc).__name__}); the checkpoint is damaged") from None
        sets = check_sets(record.get("sets", []))
        if not (len(names) == len(mean) == len(std) == int(record.get("dim", -1))):
            raise MolpeftError(f"{path} does not match finetune.json's features record; the checkpoint is damaged")
        return cls(sets, names, mean, std)
