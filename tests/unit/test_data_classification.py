"""`molpeft data` on binary labels: the task decided (auto) or asked, the label mapping, the positive class, the
refusals; common id columns found; regression tables as before."""

import json

import polars as pl
import pytest

from molpeft_cli.data.labels import decide_labels
from molpeft_cli.data.molecules import build_molecule_table
from molpeft_cli.errors import InputError, SettingError
from tests.conftest import assert_one_line_error, invoke

SMILES = ["CCO", "CCN", "CCC", "c1ccccc1", "CCCl", "CC(=O)O"]


def build(labels, **kwargs):
    raw = pl.DataFrame({"smiles": SMILES[:len(labels)], "label": labels})
    return build_molecule_table(raw, source="t", **kwargs)


@pytest.mark.parametrize("labels,positive,negative,expected", [
    (["0", "1", "1", "0"], "1", "0", [0.0, 1.0, 1.0, 0.0]),
    (["1.0", "0.0", "1", "0"], "1.0", "0.0", [1.0, 0.0, 1.0, 0.0]),
    (["True", "False", "true", " FALSE "], "True", "False", [1.0, 0.0, 1.0, 0.0]),
    (["inactive", "Active", "active", "inactive"], "Active", "inactive", [0.0, 1.0, 1.0, 0.0]),
    (["no", "yes", "no", "no"], "yes", "no", [0.0, 1.0, 0.0, 0.0]),
    (["N", "Y", "n", "y"], "Y", "N", [0.0, 1.0, 0.0, 1.0]),
    (["neg", "pos", "pos", "neg"], "pos", "neg", [0.0, 1.0, 1.0, 0.0]),
])
def test_binary_labels_map_to_0_1_with_the_positive_class_first_of_its_pair(labels, positive, negative, expected):
    result = build(labels)
    assert result.labels.task == "classification"
    assert result.labels.label_mapping == {"positive": positive, "negative": negative}
    assert result.molecules["label"].to_list() == expected
    assert result.molecules["label"].dtype == pl.Float64


def test_two_arbitrary_strings_positive_sorts_last_unless_named():
    labels = ["BBB+", "BBB-", "BBB-", "BBB+"]
    assert build(labels).labels.label_mapping == {"positive": "BBB-", "negative": "BBB+"}  # '-' sorts after '+'
    assert build(labels).molecules["label"].to_list() == [0.0, 1.0, 1.0, 0.0]
    named = build(labels, positive_class="bbb+")  # compared trimmed and case-insensitively
    assert named.labels.label_mapping == {"positive": "BBB+", "negative": "BBB-"}
    assert named.molecules["label"].to_list() == [1.0, 0.0, 0.0, 1.0]
    assert build(["0", "1", "1", "0"], positive_class="0").molecules["label"].to_list() == [1.0, 0.0, 0.0, 1.0]
    with pytest.raises(SettingError, match="positive_class 'maybe' is not a label value"):
        build(labels, positive_class="maybe")


def test_more_than_two_classes_is_refused():
    with pytest.raises(InputError, match="3 distinct non-numeric values .*multi-class is not supported"):
        build(["active", "inactive", "inconclusive", "active"])


def test_task_regression_keeps_0_1_labels_as_numbers_and_auto_keeps_continuous_ones():
    result = build(["0", "1", "1", "0"], task="regression")
    assert result.labels.task == "regression" and result.labels.label_mapping is None
    assert result.molecules["label"].to_list() == [0.0, 1.0, 1.0, 0.0]
    assert build(["1", "2", "1", "2"]).labels.task == "regression"  # two numbers other than 0/1: auto keeps numbers
    assert build(["1", "2", "1", "2"], task="classification").molecules["label"].to_list() == [0.0, 1.0, 0.0, 1.0]
    assert build(["0.5", "1.5", "2", "3"]).labels.task == "regression"
    with pytest.raises(SettingError, match="task classification needs two label values"):
        build(["0.5", "1.5", "2", "3"], task="classification")
    with pytest.raises(SettingError, match="positive_class applies to classification"):
        build(["0.5", "1.5", "2", "3"], positive_class="2")


def test_continuous_labels_with_a_few_words_stay_regression_with_those_rows_rejected():
    result = build(["0.5", "1.5", "n/a", "3", "2.5"])
    assert result.labels.task == "regression"
    assert result.molecules.height == 4 and result.rejects["reason"].to_list() == ["non-numeric label 'n/a'"]


def test_missing_labels_are_rejected_and_classes_decided_on_the_rest():
    result = build(["active", "", None, "inactive", "nan"])
    assert result.labels.task == "classification"
    assert result.rejects["reason"].to_list() == ["missing label", "missing label", "missing label (NaN)"]


def test_one_class_pool_of_a_known_pair_is_all_negative():
    rule = decide_labels(["inactive", "inactive"])
    assert rule.task == "classification" and rule.label_mapping == {"positive": "active", "negative": "inactive"}
    assert rule.parse("inactive") == (0.0, None)


def test_classification_dedupe_keeps_the_majority_class():
    raw = pl.DataFrame({"id": ["a", "b", "c", "d", "e", "f"], "smiles": ["CCO", "OCC", "C(O)C", "CCN", "NCC", "CCC"],
                        "label": ["1", "0", "1", "0", "1", "0"]})  # ethanol 2 of 3 positive; ethylamine a tie
    result = build_molecule_table(raw, source="t")
    assert dict(zip(result.molecules["mol_id"], result.molecules["label"], strict=True)) == {
        "a": 1.0, "d": 0.0, "f": 0.0}  # the tie goes to the first copy's class
    assert result.duplicates.conflicting == 2
    regression = build_molecule_table(raw, source="t", task="regression")
    assert regression.molecules["label"].to_list()[:2] == [pytest.approx(2 / 3), 0.5]  # means, as ever


@pytest.mark.parametrize("column", ["Compound ID", "compound_id", "ID", "Name", "molecule_chembl_id",
                                    "CMPD_CHEMBLID", "chembl_id", "Molecule ChEMBL ID"])
def test_common_id_columns_are_found(column):
    raw = pl.DataFrame({column: ["x1", "x2"], "smiles": ["CCO", "CCN"], "exp": ["1.0", "2.0"]})
    result = build_molecule_table(raw, source="t")
    assert result.columns["id"] == column and result.detected_id
    assert result.molecules["mol_id"].to_list() == ["x1", "x2"]


def test_the_names_looked_for_before_keep_their_priority():
    raw = pl.DataFrame({"Compound ID": ["c1"], "name": ["aspirin"], "smiles": ["CCO"], "exp": ["1"]})
    assert build_molecule_table(raw, source="t").columns["id"] == "name"  # as before this change
    raw = pl.DataFrame({"molecule_chembl_id": ["C1"], "id": ["7"], "smiles": ["CCO"], "exp": ["1"]})
    assert build_molecule_table(raw, source="t").columns["id"] == "id"
    given = build_molecule_table(raw, source="t", id_col="molecule_chembl_id")
    assert given.columns["id"] == "molecule_chembl_id" and not given.detected_id


def test_bundled_lipophilicity_keeps_its_id_column_and_regression():
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table

    result = build_molecule_table(read_table(resolve_source("lipophilicity").path), source="lipophilicity")
    assert result.columns == {"smiles": "smiles", "label": "exp", "id": "CMPD_CHEMBLID"}
    assert result.labels.task == "regression" and result.molecules.height == 4200


# --- the command ---------------------------------------------------------------------------------------------

def write_csv(path, header, rows):
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in rows) + "\n")
    return path


def test_data_command_on_true_false_labels_records_task_mapping_and_counts(runner, tmp_path):
    src = write_csv(tmp_path / "b.csv", "Compound ID,smiles,permeable",
                    [("c1", "CCO", "True"), ("c2", "CCN", "False"), ("c3", "CCC", "True"), ("c4", "CCCl", "False"),
                     ("c5", "c1ccccc1", "False")])
    out = tmp_path / "b.parquet"
    result = invoke(runner, ["data", str(src), "--label-col", "permeable", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "task: classification (2 label values in 'permeable'; positive class 'True': 2 of 5" in result.stderr
    assert "mol_id from the column 'Compound ID'" in result.stderr
    table = pl.read_parquet(out)
    assert table["mol_id"].to_list() == ["c1", "c2", "c3", "c4", "c5"]
    assert table["label"].to_list() == [1.0, 0.0, 1.0, 0.0, 0.0]
    manifest = json.loads((tmp_path / "b.parquet.manifest.json").read_text())
    assert manifest["task"] == "classification"
    assert manifest["label_mapping"] == {"positive": "True", "negative": "False"}
    assert manifest["class_counts"] == {"positive": 2, "negative": 3}
    assert "task" not in manifest["params"]  # auto: the params are those a regression table had


def test_data_command_params_and_the_regression_manifest(runner, tmp_path, small_csv):
    out = tmp_path / "m.parquet"
    assert invoke(runner, ["data", str(small_csv), "-o", str(out)]).exit_code == 0
    manifest = json.loads((tmp_path / "m.parquet.manifest.json").read_text())
    assert manifest["task"] == "regression" and "label_mapping" not in manifest and "class_counts" not in manifest
    assert set(manifest["params"]) == {"source", "smiles_col", "label_col", "id_col", "unlabeled", "strict",
                                       "dedupe", "refresh", "sample"}
    src = write_csv(tmp_path / "s.csv", "smiles,y", [("CCO", "a"), ("CCN", "b"), ("CCC", "b")])
    assert invoke(runner, ["data", str(src), "--task", "classification", "--positive-class", "a", "-o",
                           str(out)]).exit_code == 0
    manifest = json.loads((tmp_path / "m.parquet.manifest.json").read_text())
    assert manifest["params"]["task"] == "classification" and manifest["params"]["positive_class"] == "a"
    assert manifest["class_counts"] == {"positive": 1, "negative": 2}


@pytest.mark.parametrize("args,rows,needle", [
    (["--task", "classification"], [("CCO", "0.5"), ("CCN", "1.7"), ("CCC", "2.2")],
     "--task classification needs two label values"),
    ([], [("CCO", "a"), ("CCN", "b"), ("CCC", "c")], "multi-class is not supported"),
    (["--positive-class", "x"], [("CCO", "a"), ("CCN", "b")], "--positive-class 'x' is not a label value"),
    (["--task", "regression"], [("CCO", "True"), ("CCN", "False")], "no usable molecules"),
    (["--task", "binary"], [("CCO", "1")], "unknown --task 'binary'"),
])
def test_data_command_refusals_are_one_line(runner, tmp_path, args, rows, needle):
    src = write_csv(tmp_path / "bad.csv", "smiles,label", rows)
    out = tmp_path / "o.parquet"
    assert_one_line_error(invoke(runner, ["data", str(src), *args, "-o", str(out)]), needle)
    assert not out.exists()


def test_other_steps_read_a_raw_binary_csv(runner, tmp_path):
    rows = [(s, lab) for s, lab in zip(SMILES, ["yes", "no", "yes", "no", "no", "yes"], strict=True)]
    src = write_csv(tmp_path / "raw.csv", "smiles,label", rows)
    result = invoke(runner, ["split", str(src), "--strategy", "random", "-o", str(tmp_path / "s.parquet")])
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(tmp_path / "s.parquet")["label"].sum() == 3.0
