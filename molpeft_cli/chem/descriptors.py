"""RDKit descriptors for the auxiliary MLM objective (as in MolBERT): computed once per SMILES string and cached in
a Parquet table, so a corpus pays the ~1 ms per molecule only on its first run."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from molpeft_cli.data.atomic import atomic_path

DESCRIPTORS = (
    "logp", "molar_refractivity", "tpsa", "h_donors", "h_acceptors", "rotatable_bonds", "rings",
    "aromatic_rings", "fraction_sp3", "mol_weight",
)
CHUNK = 2000


def descriptor_row(smiles: str) -> list[float]:
    """The DESCRIPTORS of one SMILES, in order; NaN for every entry when RDKit cannot parse it."""
    from rdkit import Chem
    from rdkit.Chem import Crippen, Descriptors, rdMolDescriptors

    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return [math.nan] * len(DESCRIPTORS)
    return [
        Crippen.MolLogP(mol),
        Crippen.MolMR(mol),
        rdMolDescriptors.CalcTPSA(mol),
        float(rdMolDescriptors.CalcNumHBD(mol)),
        float(rdMolDescriptors.CalcNumHBA(mol)),
        float(rdMolDescriptors.CalcNumRotatableBonds(mol)),
        float(rdMolDescriptors.CalcNumRings(mol)),
        float(rdMolDescriptors.CalcNumAromaticRings(mol)),
        rdMolDescriptors.CalcFractionCSP3(mol),
        Descriptors.MolWt(mol),
    ]


def _rows(chunk: Sequence[str]) -> list[list[float]]:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # unparsable SMILES become NaN rows; RDKit's own messages are noise here
    return [descriptor_row(s) for s in chunk]


def compute_descriptors(smiles: Sequence[str], workers: int = 1, progress=None) -> np.ndarray:
    """[n, len(DESCRIPTORS)] float64 array; `workers` > 1 uses worker processes; `progress(done)` after chunks."""
    chunks = [list(smiles[i : i + CHUNK]) for i in range(0, len(smiles), CHUNK)]
    parts: list[list[list[float]]] = []
    done = 0
    if workers > 1 and len(chunks) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for part in pool.imap(_rows, chunks):
                parts.append(part)
                done += len(part)
                if progress:
                    progress(done)
    else:
        for chunk in chunks:
            parts.append(_rows(chunk))
            done += len(chunk)
            if progress:
                progress(done)
    flat = [row for part in parts for row in part]
    return np.asarray(flat, dtype=np.float64).reshape(len(smiles), len(DESCRIPTORS))


def cached_descriptors(
    smiles: Sequence[str], cache: str | os.PathLike | None, workers: int = 1, progress=None
) -> tuple[np.ndarray, int]:
    """Descriptors of `smiles` (input order), reading and extending the Parquet cache (columns smiles +
    DESCRIPTORS) when one is given. Returns (array, number computed now)."""
    import polars as pl

    unique = list(dict.fromkeys(smiles))
    known = pl.DataFrame(schema={"smiles": pl.String, **{d: pl.Float64 for d in DESCRIPTORS}})
    cache_path = Path(cache) if cache else None
    if cache_path is not None and cache_path.is_file():
        stored = pl.read_parquet(cache_path)
        if set(stored.columns) == set(known.columns):
            known = stored.select(known.columns)
    wanted = pl.DataFrame({"smiles": unique})
    missing = wanted.join(known, on="smiles", how="anti")["smiles"].to_list()
    if missing:
        values = compute_descriptors(missing, workers=workers, progress=progress)
        fresh = pl.DataFrame({"smiles": missing, **{d: values[:, j] for j, d in enumerate(DESCRIPTORS)}})
        known = pl.concat([known, fresh])
        if cache_path is not None:
            with atomic_path(cache_path) as tmp:
                known.write_parquet(tmp)
    order = pl.DataFrame({"smiles": list(smiles)}).with_row_index("_row")
    joined = order.join(known.unique("smiles", keep="first"), on="smiles", how="left").sort("_row")
    return joined.select(DESCRIPTORS).to_numpy().astype(np.float64), len(missing)


def zscore_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-descriptor mean and standard deviation over finite values (sd 1 where a descriptor is constant)."""
    mean = np.nanmean(values, axis=0)
    sd = np.nanstd(values, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return mean, sd
