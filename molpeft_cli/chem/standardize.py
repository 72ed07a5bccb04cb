"""Parse SMILES with RDKit into canonical SMILES and InChIKeys; failures carry a reason instead of raising."""

from __future__ import annotations

from dataclasses import dataclass

from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")


@dataclass(frozen=True)
class ParsedMolecule:
    smiles_canonical: str | None
    inchikey: str | None
    reason: str | None  # why parsing failed, None when it worked


def parse_smiles(smiles: str | None) -> ParsedMolecule:
    if smiles is None or not str(smiles).strip():
        return ParsedMolecule(None, None, "empty SMILES")
    if any(ch.isspace() for ch in str(smiles).strip()):  # RDKit would read what follows as a name: another molecule
        return ParsedMolecule(None, None, "SMILES with whitespace inside (RDKit would read only the part before it)")
    mol = Chem.MolFromSmiles(str(smiles).strip())
    if mol is None or mol.GetNumAtoms() == 0:
        return ParsedMolecule(None, None, "invalid SMILES (RDKit could not parse it)")
    inchikey = Chem.MolToInchiKey(mol)
    if not inchikey:
        return ParsedMolecule(None, None, "no InChIKey could be computed")
    return ParsedMolecule(Chem.MolToSmiles(mol), inchikey, None)


def skeleton_key(inchikey: str) -> str:
    """The first InChIKey block: connectivity only, so stereoisomers (and isotopes/charge states) share it."""
    return inchikey.split("-")[0]
