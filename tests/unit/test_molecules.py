import polars as pl
import pytest

from molpeft_cli.data.molecules import build_molecule_table
from molpeft_cli.errors import MolpeftError


def raw(**cols):
    return pl.DataFrame(cols)


def test_detects_columns_and_canonicalises():
    result = build_molecule_table(raw(SMILES=["OCC", "c1ccccc1"], Label=["1.0", "2"]), source="t")
    m = result.molecules
    assert result.columns == {"smiles": "SMILES", "label": "Label", "id": None}
    assert m["smiles_canonical"].to_list() == ["CCO", "c1ccccc1"]
    assert m["label"].to_list() == [1.0, 2.0]
    assert m["mol_id"].to_list() == m["inchikey"].to_list()  # no id column: the InChIKey is the id
    assert m["inchikey"][0] == "LFQSCWFLJHTTHZ-UHFFFAOYSA-N"
    assert m["source"].unique().to_list() == ["t"]


def test_rejects_carry_reasons():
    result = build_molecule_table(
        raw(smiles=["CCO", "not-a-smiles", "", "CCN", "CCC", "CCCC"], y=["1", "2", "3", "abc", None, "nan"]),
        source="t",
    )
    assert result.molecules["smiles_canonical"].to_list() == ["CCO"]
    reasons = dict(zip(result.rejects["row"].to_list(), result.rejects["reason"].to_list(), strict=True))
    assert reasons[2].startswith("invalid SMILES")
    assert reasons[3] == "empty SMILES"
    assert reasons[4].startswith("non-numeric label")
    assert reasons[5] == "missing label"
    assert reasons[6].startswith("missing label (NaN)")


def test_dedupe_modes_and_report():
    table = raw(id=["a", "b", "c"], smiles=["OCC", "CCO", "CCN"], exp=[1.0, 2.0, 5.0])
    mean = build_molecule_table(table, source="t", dedupe="mean")
    assert mean.molecules["label"].to_list() == [1.5, 5.0]
    assert mean.molecules["mol_id"].to_list() == ["a", "c"]
    assert mean.duplicates.groups == 1 and mean.duplicates.max_label_spread == 1.0
    first = build_molecule_table(table, source="t", dedupe="first")
    assert first.molecules["label"].to_list() == [1.0, 5.0]
    with pytest.raises(MolpeftError, match="more than once"):
        build_molecule_table(table, source="t", dedupe="error")


def test_missing_columns_are_clear():
    with pytest.raises(MolpeftError, match="no SMILES column"):
        build_molecule_table(raw(structure_x=["CCO"], label=[1.0]), source="t")
    with pytest.raises(MolpeftError, match="no label column"):
        build_molecule_table(raw(smiles=["CCO"], other=[1.0]), source="t")
    with pytest.raises(MolpeftError, match="'exp' not found"):
        build_molecule_table(raw(smiles=["CCO"], label=[1.0]), source="t", label_col="exp")


def test_unlabeled_pool_keeps_null_labels():
    result = build_molecule_table(raw(smiles=["CCO", "CCN"]), source="pool", unlabeled=True)
    assert result.molecules["label"].null_count() == 2


def test_repeated_ids_for_different_compounds_fail():
    with pytest.raises(MolpeftError, match="repeats ids"):
        build_molecule_table(raw(id=["a", "a"], smiles=["CCO", "CCN"], y=[1.0, 2.0]), source="t")
