import polars as pl

from molpeft_cli.chem.audit import audit_pool, leaking_ids
from molpeft_cli.data.molecules import build_molecule_table


def table(smiles, labels, ids, splits=None):
    m = build_molecule_table(pl.DataFrame({"id": ids, "smiles": smiles, "y": labels}), source="t").molecules
    if splits:
        m = m.with_columns(pl.Series("split", splits))
    return m


def test_audit_finds_same_compound_and_stereo_free_skeleton():
    dataset = table(["C[C@H](N)C(=O)O", "CCO", "c1ccccc1"], [1.0, 2.0, 3.0], ["d1", "d2", "d3"],
                    ["train", "valid", "test"])
    # p1: L-alanine drawn without stereo (same skeleton only); p2: ethanol (same compound); p3: new compound
    pool = table(["CC(N)C(=O)O", "OCC", "CCCl"], [1.5, 0.5, 0.0], ["p1", "p2", "p3"])
    hits, summary = audit_pool(dataset, pool, tolerance=0.3)
    assert summary.same_inchikey == 1
    assert summary.same_skeleton == 2
    assert summary.by_split == {"train": {"same_inchikey": 0, "same_skeleton": 1},
                                "valid": {"same_inchikey": 1, "same_skeleton": 1}}
    exact = hits.filter(pl.col("match") == "inchikey").row(0, named=True)
    assert exact["pool_mol_id"] == "p2" and exact["dataset_mol_id"] == "d2"
    assert exact["label_difference"] == -1.5
    assert summary.label_conflicts == 1
    ids, guarded = leaking_ids(dataset, pool, ("valid", "test"))
    assert ids == ["p2"] and (guarded.same_inchikey, guarded.same_skeleton) == (1, 1)
    assert leaking_ids(dataset, pool, ("train",))[0] == ["p1"]
