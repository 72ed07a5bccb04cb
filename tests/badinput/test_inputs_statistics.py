"""Bad inputs of issue 26 that are read as something else or give a statistic from too little: whitespace inside a
SMILES, list options with a typo, numbers out of range, a folder for a file, SD files, repeated CSV columns, too
small a held-out sample, a split that cannot reach its fractions.

Each case ends one of two ways, asserted exactly: an error (its exit status, one `error:` line naming the problem,
no traceback), or a marked result (exit 0, and `check` sees the mark: a rejects row, a warning, a record in the
summary). Either way every file that was there is byte-identical afterwards and nothing is left behind but the
case's outputs. `outcome` sorts a run into clean / wrong result / data lost / unclear / traceback; with
MOLPEFT_BADINPUT_TALLY set, each case's outcome is appended there as a JSON line (the before/after counts).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.badinput.conftest import World
from tests.badinput.test_corpus import _snapshot
from tests.conftest import invoke

ASPIRIN_SPACE = "CC(=O)Oc1ccccc1C(=O) O"  # RDKit alone reads `CC(=O)Oc1ccccc1C=O` named "O"

SDF_RECORD = """{name}
     RDKit          2D

  3  2  0  0  0  0  0  0  0  0999 V2000
    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    1.2990    0.7500    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0
    2.5981   -0.0000    0.0000 {atom}   0  0  0  0  0  0  0  0  0  0  0  0
  1  2  1  0
  2  3  1  0
M  END
{props}$$$$
"""


def _sdf(*records: tuple[str, str, dict[str, str]]) -> str:
    return "".join(SDF_RECORD.format(name=name, atom=atom, props="".join(f">  <{k}>\n{v}\n\n" for k, v in
                                                                         props.items()))
                   for name, atom, props in records)


SDF = _sdf(("ethanol", "O", {"logD": "-0.3"}), ("ethylamine", "N", {"logD": "0.1"}),
           ("fluoroethane", "F", {"logD": "1.2"}), ("broken", "Xx", {"logD": "9.9"}))


@dataclass
class Case:
    name: str
    argv: Callable[[World, Path], list[str]]
    needle: str  # in the one error line, or (a marked result) in stderr
    code: int = 2
    files: dict[str, str] | None = None  # written into the case folder first
    check: Callable[[World, Path, object], None] | None = None  # a marked result: what must hold
    outputs: tuple[str, ...] = ()  # names the case may create


def _write(d: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_text(text)


def _rejected(reason: str, kept: int):
    def check(world: World, d: Path, result) -> None:
        rejects = pl.read_parquet(d / "rej.parquet")
        assert rejects.height == 1 and reason in rejects["reason"][0], rejects
        assert rejects["smiles"][0] == ASPIRIN_SPACE  # as given, never shortened
        assert pl.read_parquet(d / "m.parquet").height == kept

    return check


def _predicted(errors: dict[str, str | None]):
    def check(world: World, d: Path, result) -> None:
        table = pl.read_parquet(d / "p.parquet")
        got = dict(zip(table["smiles"].to_list(), table["error"].to_list(), strict=True))
        for smiles, error in errors.items():
            assert (got[smiles] is None) if error is None else (error in (got[smiles] or "")), got

    return check


def _sd_read(world: World, d: Path, result) -> None:
    table = pl.read_parquet(d / "m.parquet")
    assert sorted(table["smiles_canonical"].to_list()) == ["CCF", "CCN", "CCO"]
    assert dict(zip(table["mol_id"], table["label"], strict=True)) == {"ethanol": -0.3, "ethylamine": 0.1,
                                                                       "fluoroethane": 1.2}
    assert pl.read_parquet(d / "rej.parquet").height == 1  # the record RDKit cannot read


def _shortfall(group: str):
    def check(world: World, d: Path, result) -> None:
        summary = json.loads((d / "sum.json").read_text())
        assert group in summary["shortfall"] and "strategy random" in summary["shortfall"], summary
        assert "--strategy random" in result.stderr and "--frac 0.86" in result.stderr, result.stderr

    return check


def _small_splits(d: Path, expected: list[str]) -> None:
    assert json.loads((d / "sum.json").read_text())["small_splits"] == expected


def _marked_mlm(world: World, d: Path, result) -> None:
    manifest = json.loads((d / "m" / "manifest.json").read_text())
    data = manifest["data"]
    assert data["heldout_below_minimum"] is True and 0 < data["heldout_masked_tokens"] < 100, data


SCAFFOLD_HEAVY = "smiles,label\n" + "".join(f"c1ccccc1{s},{i}\n" for i, s in enumerate(
    ["C", "CC", "CCC", "CCCC", "CCCCC", "O", "CO", "CCO", "CCCO", "N", "CN", "CCN", "CCCN", "F", "CF", "CCF",
     "Cl"])) + "C1CCCCC1C,20\nC1CCNCC1,21\nc1ccncc1C,22\n"  # 17 of 20 molecules share the benzene scaffold
RAW = "smiles,label\n" + "".join(f"{s},{i}\n" for i, s in enumerate(
    ["CCO", "CCN", "CCC", "c1ccccc1", "c1ccncc1", "CC(=O)O", "CCCl", "CCBr", "C1CCCCC1", "OCCO", "NCCN", "CCOC"]))
W = World

CASES = [
    # -- whitespace inside a SMILES ---------------------------------------------------------------------------
    Case("data-space-in-smiles", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "m.parquet"), "--rejects",
                                               str(d / "rej.parquet")], "1 SMILES with whitespace inside", 0,
         {"a.csv": f"smiles,label\n\"{ASPIRIN_SPACE}\",1.5\nCCO,2\n"}, _rejected("whitespace inside", 1),
         ("m.parquet", "m.parquet.manifest.json", "rej.parquet")),
    Case("data-tab-in-smiles", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "m.parquet"), "--strict"],
         "row 1 (SMILES with whitespace inside", files={"a.csv": "smiles,label\n\"CCO\tC\",1.5\nCCO,2\n"}),
    Case("data-space-strict", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "m.parquet"), "--strict"],
         "--strict: 1 rows rejected, first: row 1 (SMILES with whitespace inside",
         files={"a.csv": f"smiles,label\n\"{ASPIRIN_SPACE}\",1.5\nCCO,2\n"}),
    Case("split-space-in-contract-table", lambda w, d: ["split", str(d / "t.parquet"), "-o", str(d / "s.parquet")],
         "1 SMILES with whitespace inside (RDKit would read only the part before it): row 2"),
    Case("predict-space-in-argument", lambda w, d: ["predict", str(w.checkpoint), ASPIRIN_SPACE, "CCO", "-o",
                                                    str(d / "p.parquet")], "whitespace inside", 0,
         check=_predicted({ASPIRIN_SPACE: "whitespace inside", "CCO": None}), outputs=("p.parquet",)),
    Case("predict-space-strict", lambda w, d: ["predict", str(w.checkpoint), ASPIRIN_SPACE, "--strict"],
         "whitespace inside"),
    Case("predict-smi-names-kept", lambda w, d: ["predict", str(w.checkpoint), "-i", str(d / "e.smi"), "-o",
                                                 str(d / "p.parquet")], "", 0,
         {"e.smi": "CCO ethanol\nc1ccccc1O\tphenol\n"}, _predicted({"CCO": None, "c1ccccc1O": None}),
         ("p.parquet",)),
    Case("audit-space-in-raw-pool", lambda w, d: ["audit", str(w.split), str(d / "pool.csv"), "-o",
                                                  str(d / "h.parquet")], "1 SMILES with whitespace inside", 0,
         {"pool.csv": f"smiles,label\n\"{ASPIRIN_SPACE}\",1\nCCO,2\n"}, outputs=("h.parquet",
                                                                             "h.parquet.manifest.json")),
    # -- lists, item by item ----------------------------------------------------------------------------------
    Case("mlm-splits-typo", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                          "--splits", "train,tset"], "unknown --splits 'tset'"),
    Case("mlm-splits-empty", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                           "--splits", ","], "--splits names none"),
    Case("mlm-splits-twice", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                           "--splits", "train,train"], "--splits names 'train' more than once"),
    Case("split-frac-two-numbers-toml", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"),
                                                      "--config", str(d / "c.toml")], "--frac takes three numbers",
         files={"c.toml": "[split]\nfrac = [0.8, 0.2]\n"}),
    Case("split-frac-words-toml", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"),
                                                "--config", str(d / "c.toml")], "--frac takes three finite numbers",
         files={"c.toml": "[split]\nfrac = [\"a\", \"b\", \"c\"]\n"}),
    Case("split-frac-negative", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"), "--frac",
                                              "1.2", "-0.1", "-0.1"], "--frac: fractions must be non-negative"),
    Case("split-frac-sum", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"), "--frac", "0.5",
                                         "0.2", "0.2"], "--frac: fractions must sum to 1"),
    Case("split-frac-nan", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"), "--frac", "nan",
                                         "0.5", "0.5"], "--frac takes three finite numbers"),
    Case("tune-grid-lr-negative", lambda w, d: ["tune", str(w.split), "-o", str(d / "t"), "--model", str(w.base),
                                                "--grid-lr", "1e-4,-1"],
         "--grid-lr values must be positive, got [-1.0]"),
    Case("tune-seeds-empty", lambda w, d: ["tune", str(w.split), "-o", str(d / "t"), "--model", str(w.base),
                                           "--seeds", ","], "--seeds names no seed"),
    Case("tune-seeds-repeated", lambda w, d: ["tune", str(w.split), "-o", str(d / "t"), "--model", str(w.base),
                                              "--seeds", "0,0"], "--seeds repeats a value"),
    Case("tune-lora-rank-zero", lambda w, d: ["tune", str(w.split), "-o", str(d / "t"), "--model", str(w.base),
                                              "--peft", "lora", "--grid-lora-rank", "8,0"],
         "--grid-lora-rank values must be positive, got [0]"),
    Case("tune-jobs-zero-toml", lambda w, d: ["tune", str(w.split), "-o", str(d / "t"), "--model", str(w.base),
                                              "--config", str(d / "c.toml")], "--jobs must be at least 1",
         files={"c.toml": "[tune]\njobs = 0\n"}),
    # -- numbers in range -------------------------------------------------------------------------------------
    Case("carve-size-zero", lambda w, d: ["carve", str(w.molecules), "-o", str(d / "r.parquet"), "--pool",
                                          str(d / "p.parquet"), "--size", "0"], "--size must be at least 1"),
    Case("carve-seed-negative", lambda w, d: ["carve", str(w.molecules), "-o", str(d / "r.parquet"), "--pool",
                                              str(d / "p.parquet"), "--seed", "-1"], "--seed must be at least 0"),
    Case("split-seed-negative", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"), "--seed",
                                              "-3"], "--seed must be at least 0, got -3"),
    Case("data-seed-negative", lambda w, d: ["data", str(w.raw_csv), "-o", str(d / "m.parquet"), "--sample", "3",
                                             "--seed", "-1"], "--seed must be at least 0"),
    Case("data-sample-zero-toml", lambda w, d: ["data", str(w.raw_csv), "-o", str(d / "m.parquet"), "--config",
                                                str(d / "c.toml")], "--sample must be at least 1",
         files={"c.toml": "[data]\nsample = 0\n"}),
    Case("data-empty-sha256", lambda w, d: ["data", str(w.raw_csv), "-o", str(d / "m.parquet"), "--sha256", ""],
         "--sha256 must be 64 hexadecimal digits"),
    Case("data-empty-smiles-col", lambda w, d: ["data", str(w.raw_csv), "-o", str(d / "m.parquet"),
                                                "--smiles-col", ""], "--smiles-col is empty"),
    Case("data-empty-output", lambda w, d: ["data", str(w.raw_csv), "-o", ""], "--output is empty"),
    Case("audit-tolerance-negative", lambda w, d: ["audit", str(w.split), str(w.pool), "-o", str(d / "h.parquet"),
                                                   "--tolerance", "-1"], "--tolerance must be at least 0"),
    Case("audit-tolerance-nan", lambda w, d: ["audit", str(w.split), str(w.pool), "-o", str(d / "h.parquet"),
                                              "--tolerance", "nan"], "--tolerance must be a finite number"),
    Case("mlm-lr-infinite", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                          "--lr", "inf"], "--lr must be a finite number"),
    Case("mlm-holdout-fractional-count", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model",
                                                       str(w.base), "--holdout", "1.5"],
         "--holdout is a fraction below 1 or a whole count"),
    Case("mlm-seed-negative", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                            "--seed", "-1"], "--seed must be at least 0"),
    Case("finetune-weight-decay-negative", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                         str(w.base), "--weight-decay", "-0.1"],
         "--weight-decay must be at least 0"),
    Case("finetune-grad-clip-negative", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                      str(w.base), "--grad-clip", "-1"],
         "--grad-clip must be at least 0"),
    Case("finetune-seed-negative", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                 str(w.base), "--seed", "-7"], "--seed must be at least 0"),
    Case("finetune-empty-model", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model", ""],
         "--model is empty"),
    Case("report-resamples-zero", lambda w, d: ["report", str(d / "r"), "-o", str(d / "rep"), "--resamples", "0"],
         "--resamples must be at least 100"),
    Case("report-rf-trees-zero", lambda w, d: ["report", str(d / "r"), "-o", str(d / "rep"), "--rf-trees", "0"],
         "--rf-trees must be at least 1"),
    Case("report-chemprop-epochs-negative", lambda w, d: ["report", str(d / "r"), "-o", str(d / "rep"),
                                                          "--chemprop-epochs", "-1"],
         "--chemprop-epochs must be at least 1"),
    Case("report-seed-negative", lambda w, d: ["report", str(d / "r"), "-o", str(d / "rep"), "--seed", "-1"],
         "--seed must be at least 0"),
    # -- a folder for a file, and the reverse -----------------------------------------------------------------
    Case("data-folder-for-file", lambda w, d: ["data", str(d / "in"), "-o", str(d / "m.parquet")],
         "in is a folder, not a table file", files={"in/x.csv": RAW}),
    Case("split-folder-for-file", lambda w, d: ["split", str(d / "in"), "-o", str(d / "s.parquet")],
         "is a folder, not a table file", files={"in/x.csv": RAW}),
    Case("predict-folder-for-input", lambda w, d: ["predict", str(w.checkpoint), "-i", str(d / "in")],
         "is a folder, not a SMILES file or table", files={"in/x.csv": RAW}),
    Case("config-folder-for-file", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"),
                                                 "--config", str(d / "in")], "is a folder, not a TOML file",
         files={"in/x.toml": ""}),
    Case("eval-file-for-checkpoint", lambda w, d: ["eval", str(w.split), str(w.split), "-o", str(d / "p.parquet")],
         "not a folder"),
    # -- SD files ---------------------------------------------------------------------------------------------
    Case("data-sd-file", lambda w, d: ["data", str(d / "x.sdf"), "-o", str(d / "m.parquet"), "--rejects",
                                       str(d / "rej.parquet")], "1 rows rejected", 0, {"x.sdf": SDF}, _sd_read,
         ("m.parquet", "m.parquet.manifest.json", "rej.parquet")),
    Case("data-sd-file-label-col", lambda w, d: ["data", str(d / "x.sd"), "-o", str(d / "m.parquet"), "--rejects",
                                                 str(d / "rej.parquet"), "--label-col", "logD"], "", 0,
         {"x.sd": SDF}, _sd_read, ("m.parquet", "m.parquet.manifest.json", "rej.parquet")),
    Case("data-sd-file-no-label", lambda w, d: ["data", str(d / "x.sdf"), "-o", str(d / "m.parquet")],
         "--label-col", files={"x.sdf": _sdf(("ethanol", "O", {"colour": "red"}))}),
    Case("data-sd-file-unknown-property", lambda w, d: ["data", str(d / "x.sdf"), "-o", str(d / "m.parquet"),
                                                        "--label-col", "pIC50"], "label column 'pIC50' not found",
         files={"x.sdf": SDF}),
    Case("data-sd-file-empty", lambda w, d: ["data", str(d / "x.sdf"), "-o", str(d / "m.parquet")],
         "holds no SD records", files={"x.sdf": "no molecules here\n"}),
    Case("predict-sd-file", lambda w, d: ["predict", str(w.checkpoint), "-i", str(d / "x.sdf"), "-o",
                                          str(d / "p.parquet")], "", 0, {"x.sdf": SDF},
         _predicted({"CCO": None, "CCN": None, "CCF": None, "": "empty SMILES"}), ("p.parquet",)),
    # -- repeated columns -------------------------------------------------------------------------------------
    Case("data-repeated-column", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "m.parquet")],
         "names a column more than once: 'label'", files={"a.csv": "smiles,label,label\nCCO,1,2\nCCN,2,3\n"}),
    Case("data-repeated-column-semicolons", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "m.parquet")],
         "names a column more than once: 'smiles'", files={"a.csv": "smiles;smiles;label\nCCO;CCN;1\n"}),
    Case("split-raw-repeated-column", lambda w, d: ["split", str(d / "a.csv"), "-o", str(d / "s.parquet")],
         "names a column more than once: 'smiles'", files={"a.csv": "smiles,label,smiles\nCCO,1,CCN\n"}),
    # -- minimum samples --------------------------------------------------------------------------------------
    Case("mlm-holdout-nothing-masked", lambda w, d: ["mlm", str(d / "c.smi"), "-o", str(d / "m"), "--model",
                                                     str(w.base), "--holdout", "1", "--mask-prob", "0.01"],
         "has no masked token", files={"c.smi": "CCO\nCCN\nc1ccccc1O\n"}),
    Case("mlm-holdout-few-masked", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                                 "--holdout", "2", "--epochs", "1", "--batch-size", "16"],
         "fewer than 100", 0, check=_marked_mlm, outputs=("m", "m.descriptors.parquet")),
    Case("split-scaffold-group-too-large", lambda w, d: ["split", str(d / "a.csv"), "-o", str(d / "s.parquet"),
                                                         "--summary", str(d / "sum.json")],
         "the scaffold group 'c1ccccc1' holds 17 molecules (85%)", 0, {"a.csv": SCAFFOLD_HEAVY},
         _shortfall("'c1ccccc1' holds 17 molecules"), ("s.parquet", "s.parquet.manifest.json", "sum.json")),
    Case("split-random-too-few", lambda w, d: ["split", str(d / "a.csv"), "-o", str(d / "s.parquet"),
                                               "--strategy", "random", "--summary", str(d / "sum.json")],
         "fewer than 10 molecules in valid: 1", 0, {"a.csv": RAW},
         lambda w, d, r: _small_splits(d, ["valid: 1", "test: 2"]),
         ("s.parquet", "s.parquet.manifest.json", "sum.json")),
]


def _setup(case: Case, world: World, d: Path) -> None:
    _write(d, case.files or {})
    if case.name == "split-space-in-contract-table":
        table = pl.read_parquet(world.molecules)
        values = table["smiles_canonical"].to_list()
        values[1] = ASPIRIN_SPACE
        table.with_columns(pl.Series("smiles_canonical", values)).write_parquet(d / "t.parquet")
    if case.name.startswith("report-"):
        (d / "r").mkdir()
        (d / "r" / "run.json").write_text('{"profile": "tiny"}\n')


def outcome(case: Case, result, changed: list[str], new: set[str]) -> str:
    """clean / wrong result / data lost / unclear / traceback / left behind, for the before/after counts."""
    if changed:
        return "data lost"
    if "Traceback" in result.output or (result.exception is not None and not isinstance(result.exception,
                                                                                       SystemExit)):
        return "traceback"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    if case.code != 0:  # an error is expected
        if result.exit_code == 0:
            return "wrong result"
        if len(errors) != 1 or case.needle not in errors[0] or "unexpected" in errors[0]:
            return "unclear"
        if new:
            return "left behind"
        return "clean" if result.exit_code == case.code else "unclear"
    if result.exit_code != 0:
        return "unclear"
    if new - set(case.outputs):
        return "left behind"
    return "clean" if case.needle in result.stderr else "wrong result"  # the mark: a warning saying so


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_input_or_statistic(case: Case, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from molpeft_cli.console import console

    monkeypatch.setattr(console, "width", 1000)
    d = tmp_path / "case"
    d.mkdir()
    monkeypatch.chdir(d)
    monkeypatch.setenv("MOLPEFT_CACHE_DIR", str(tmp_path / "cache"))
    _setup(case, world, d)
    before = _snapshot(world.root, world.base, d)
    entries = {p.name for p in d.iterdir()}
    result = invoke(CliRunner(), ["--threads", "1", *case.argv(world, d)])
    after = _snapshot(world.root, world.base, d)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    new = {p.name for p in d.iterdir()} - entries
    verdict = outcome(case, result, changed, new)
    line = next((x for x in result.stderr.splitlines() if x.startswith("error:")), "")
    if case.check is not None and verdict == "clean":
        try:
            case.check(world, d, result)
        except AssertionError:
            verdict = "wrong result"
            raise
        finally:
            _tally(case, verdict, result.exit_code, line)
    else:
        _tally(case, verdict, result.exit_code, line)
    assert verdict == "clean", f"{verdict}: exit {result.exit_code}\n{result.output}"
    assert not changed and not (new - set(case.outputs)), (changed, new)


def _tally(case: Case, verdict: str, exit_code: int = 0, error: str = "") -> None:
    path = os.environ.get("MOLPEFT_BADINPUT_TALLY")
    if path:
        with open(path, "a") as fh:
            fh.write(json.dumps({"case": case.name, "outcome": verdict, "exit": exit_code, "error": error}) + "\n")


def test_enough_cases() -> None:
    assert len(CASES) >= 40 and len({c.name for c in CASES}) == len(CASES)


# -- the statistics' minimum samples, in the library ------------------------------------------------------------


def test_lds_interval_needs_ten_subsets(caplog: pytest.LogCaptureFixture) -> None:
    """Below MIN_INTERVAL_SUBSETS the LDS comes without an interval (NaN) and a warning; from it on, with one."""
    import numpy as np

    from molpeft_cli.influence.check import MIN_INTERVAL_SUBSETS, CheckConfig, check_rows

    class Retraining:  # what check_rows reads of influence.retraining.Retraining
        def __init__(self, m: int) -> None:
            rng = np.random.default_rng(m)
            self.members = rng.random((m, 6)) < 0.5
            self.n_train = 10
            self.measured = -(self.members.astype(float) @ np.arange(1.0, 7.0)) / 10 + rng.normal(0, 0.01, m)

    scores = {"s": np.arange(1.0, 7.0)}
    few = check_rows(Retraining(3), scores, {}, CheckConfig(subsets=3, bootstrap=200))[0]
    assert np.isnan(few["ci_low"]) and np.isnan(few["ci_high"]) and -1 <= few["lds"] <= 1
    assert any("too few for a confidence interval" in r.getMessage() for r in caplog.records)
    many = check_rows(Retraining(MIN_INTERVAL_SUBSETS), scores, {},
                      CheckConfig(subsets=MIN_INTERVAL_SUBSETS, bootstrap=200))[0]
    assert many["ci_low"] <= many["lds"] <= many["ci_high"]
    with pytest.raises(ValueError, match="subsets must be >= 3"):
        CheckConfig(subsets=2)


def test_shortfall_fractions_fit_the_group() -> None:
    """The fractions the scaffold shortfall suggests do place the large group in train (DeepChem's own split)."""
    from molpeft_cli.chem.splitters import fraction_shortfall, split_molecules
    from molpeft_cli.data.molecules import build_molecule_table

    raw = pl.read_csv(io.BytesIO(SCAFFOLD_HEAVY.encode()), infer_schema_length=0)
    table = build_molecule_table(raw, "x").molecules
    text = fraction_shortfall(split_molecules(table, "scaffold", (0.8, 0.1, 0.1), 0), "scaffold", (0.8, 0.1, 0.1))
    fractions = tuple(float(x.rstrip(")")) for x in text.split("{setting} ")[-1].split()[:3])
    again = split_molecules(table, "scaffold", fractions, 0)
    assert fraction_shortfall(again, "scaffold", fractions) is None, fractions
