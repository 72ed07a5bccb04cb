"""Morgan fingerprints (radius 2, 2048 bits) and Tanimoto similarity, the one fingerprint the tool uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

MORGAN_RADIUS = 2
MORGAN_BITS = 2048


def morgan_fingerprints(smiles: Sequence[str], radius: int = MORGAN_RADIUS, n_bits: int = MORGAN_BITS) -> list:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return [generator.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def max_tanimoto_to(query_fps: list, reference_fps: list) -> np.ndarray:
    """For each query fingerprint, its highest Tanimoto similarity to any reference fingerprint."""
    if not reference_fps:
        return np.zeros(len(query_fps))
    return np.array([max(DataStructs.BulkTanimotoSimilarity(fp, reference_fps)) for fp in query_fps])
