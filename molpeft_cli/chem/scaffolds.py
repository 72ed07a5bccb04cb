"""Bemis-Murcko scaffolds (stereo-free), as DeepChem's scaffold splitter groups molecules."""

from __future__ import annotations

from collections.abc import Sequence

from rdkit.Chem.Scaffolds import MurckoScaffold


def murcko_scaffold(smiles: str) -> str:
    """Scaffold SMILES; acyclic molecules have the empty scaffold ''."""
    return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles, includeChirality=False)


def murcko_scaffolds(smiles: Sequence[str]) -> list[str]:
    return [murcko_scaffold(s) for s in smiles]
