"""The bad-input corpus: hostile-but-ordinary inputs through every command.

Each case asserts the exit code, exactly one `error:` line that names the problem, no traceback, that every file
that existed before (the shared world and the case's own folder) is byte-identical afterwards, and that nothing
new was left behind except what the case allows (an interrupted `mlm`'s OUTPUT.resume/, for instance).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.badinput.conftest import World
from tests.conftest import assert_one_line_error, invoke


@dataclass
class Case:
    name: str
    argv: Callable[[World, Path], list[str]]
    needle: str
    code: int = 2
    setup: Callable[[World, Path], None] | None = None
    patch: Callable[[pytest.MonkeyPatch], None] | None = None
    context: Callable[[World, Path], contextlib.AbstractContextManager] | None = None
    allowed_new: tuple[str, ...] = ()  # names (relative to the case folder) that may appear
    absent: tuple[str, ...] = ()  # names (relative to the case folder) that must not exist afterwards
    not_in_error: tuple[str, ...] = ()  # text the error must not contain (e.g. flags the command lacks)
    extra: list = field(default_factory=list)


def _bad_split(name: str = "bad.parquet", **columns):
    """Setup: the world's split table with some columns replaced, written to the case folder."""

    def setup(world: World, d: Path) -> None:
        table = world.split_frame()
        for column, values in columns.items():
            values = values(table) if callable(values) else values
            table = table.with_columns(pl.Series(column, values))
        table.write_parquet(d / name)

    return setup


def _replace_at(column: str, index: int, value):
    def change(table: pl.DataFrame) -> list:
        values = table[column].to_list()
        values[index] = value
        return values

    return change


def _write(name: str, data: bytes | str):
    def setup(world: World, d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())

    return setup


def _foreign_dir(name: str):
    """A user's folder with a few files that are not molpeft outputs (e.g. a run directory's neighbour)."""

    def setup(world: World, d: Path) -> None:
        (d / name / "cells" / "c1").mkdir(parents=True)
        (d / name / "notes.md").write_text("my notes\n")
        (d / name / "cells" / "c1" / "weights.bin").write_bytes(b"\x00" * 64)

    return setup


def _copy_checkpoint(name: str, damage: Callable[[Path], None]):
    def setup(world: World, d: Path) -> None:
        shutil.copytree(world.checkpoint, d / name)
        damage(d / name)

    return setup


def _truncate_weights(ck: Path) -> None:
    path = ck / "model.safetensors"
    path.write_bytes(path.read_bytes()[:200])


def _random_weights(ck: Path) -> None:
    (ck / "model.safetensors").write_bytes(hashlib.sha256(b"noise").digest() * 64)


def _broken_meta(ck: Path) -> None:
    (ck / "finetune.json").write_text('{"peft": "full", "base_model": ')


def _other_hidden_size(ck: Path) -> None:
    config = json.loads((ck / "config.json").read_text())
    config["hidden_size"] = config["hidden_size"] * 2
    config["intermediate_size"] = config.get("intermediate_size", 64) * 2
    (ck / "config.json").write_text(json.dumps(config))


def _interrupt(target: str, after: int = 0):
    """Patch: `target` (module:attribute) raises KeyboardInterrupt on its (after+1)-th call, as Ctrl-C would."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        import importlib

        module_name, attribute = target.split(":")
        owner_name, _, method = attribute.partition(".")
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name)
        original = getattr(owner, method) if method else owner
        calls = {"n": 0}

        def interrupted(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] > after:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        if method:
            monkeypatch.setattr(owner, method, interrupted)
        else:
            monkeypatch.setattr(module, owner_name, interrupted)

    return patch


def _held_lock(name: str):
    def context(world: World, d: Path):
        from molpeft_cli.data.lock import directory_lock

        (d / name).mkdir(exist_ok=True)
        return directory_lock(d / name, "run")

    return context


def _make_run_dir(name: str):
    def setup(world: World, d: Path) -> None:
        (d / name).mkdir()
        (d / name / "run.json").write_text('{"profile": "tiny"}\n')

    return setup


LONG_SMILES = "C" * 300  # valid, and longer than the tiny model's 256 positions
W = World

CASES = [
    # -- data -------------------------------------------------------------------------------------------------
    Case("data-output-is-input", lambda w, d: ["data", str(d / "a.csv"), "-o", str(d / "a.csv")],
         "is also the input SOURCE", setup=_write("a.csv", "smiles,label\nCCO,1\n")),
    Case("data-missing-file", lambda w, d: ["data", str(d / "nope.csv"), "-o", str(d / "m.parquet")], "not found"),
    Case("data-html-file", lambda w, d: ["data", str(d / "page.csv"), "-o", str(d / "m.parquet")], "HTML page",
         setup=_write("page.csv", "<!DOCTYPE html>\n<html><body>Please sign in</body></html>\n")),
    Case("data-binary-file", lambda w, d: ["data", str(d / "x.csv"), "-o", str(d / "m.parquet")], "binary data",
         setup=_write("x.csv", bytes(range(256)) * 4)),
    Case("data-corrupt-gzip", lambda w, d: ["data", str(d / "x.csv.gz"), "-o", str(d / "m.parquet")],
         "unreadable gzip", setup=_write("x.csv.gz", gzip.compress(b"smiles,label\nCCO,1\n" * 50)[:30])),
    Case("data-output-is-a-folder", lambda w, d: ["data", str(w.raw_csv), "-o", str(d / "out")], "is a folder",
         setup=lambda w, d: (d / "out").mkdir()),
    Case("data-header-only", lambda w, d: ["data", str(d / "h.csv"), "-o", str(d / "m.parquet")], "no rows",
         setup=_write("h.csv", "smiles,label\n")),
    Case("data-no-smiles-column", lambda w, d: ["data", str(d / "t.csv"), "-o", str(d / "m.parquet")],
         "--smiles-col", setup=_write("t.csv", "name,value\nethanol,1\n")),
    Case("data-strict-reject", lambda w, d: ["data", str(d / "t.csv"), "-o", str(d / "m.parquet"), "--strict"],
         "--strict", setup=_write("t.csv", "smiles,label\nCCO,1\nC1CC((,2\n")),
    Case("data-no-label-column", lambda w, d: ["data", str(d / "t.csv"), "-o", str(d / "m.parquet")],
         "--label-col", setup=_write("t.csv", "smiles,colour\nCCO,red\n")),
    # -- carve ------------------------------------------------------------------------------------------------
    Case("carve-pool-is-output", lambda w, d: ["carve", str(w.molecules), "-o", str(d / "p.parquet"), "--pool",
                                               str(d / "p.parquet")], "name the same path"),
    Case("carve-output-is-input", lambda w, d: ["carve", str(w.molecules), "-o", str(w.molecules), "--pool",
                                                str(d / "p.parquet")], "is also the input INPUT"),
    # -- split ------------------------------------------------------------------------------------------------
    Case("split-output-is-input", lambda w, d: ["split", str(w.molecules), "-o", str(w.molecules)],
         "is also the input INPUT"),
    Case("split-invalid-smiles", lambda w, d: ["split", str(d / "bad.parquet"), "-o", str(d / "s.parquet")],
         "invalid SMILES (RDKit cannot parse them): row 3",
         setup=_bad_split(smiles_canonical=_replace_at("smiles_canonical", 2, "C1CC(("))),
    Case("split-summary-is-input", lambda w, d: ["split", str(w.molecules), "-o", str(d / "s.parquet"),
                                                 "--summary", str(w.molecules)], "is also the input INPUT"),
    # -- audit ------------------------------------------------------------------------------------------------
    Case("audit-output-is-input", lambda w, d: ["audit", str(w.split), str(w.pool), "-o", str(w.pool)],
         "is also the input POOL"),
    # -- mlm --------------------------------------------------------------------------------------------------
    Case("mlm-foreign-folder", lambda w, d: ["mlm", str(w.smi), "-o", str(d / "runs"), "--model", str(w.base)],
         "holds no molpeft manifest", setup=_foreign_dir("runs")),
    Case("mlm-into-a-finetune-output", lambda w, d: ["mlm", str(w.smi), "-o", str(w.checkpoint), "--model",
                                                     str(w.base)], "holds the output of `molpeft finetune`"),
    Case("mlm-current-folder", lambda w, d: ["mlm", str(w.smi), "-o", ".", "--model", str(w.base)],
         "current folder"),
    Case("mlm-interrupted", lambda w, d: ["mlm", str(w.split), "-o", str(d / "m"), "--model", str(w.base),
                                          "--epochs", "3", "--batch-size", "8", "--save-every", "2"],
         "interrupted", code=130, patch=_interrupt("molpeft_cli.training.mlm:MLMTrainer.train_step", after=4),
         allowed_new=("m.resume",), absent=("m",)),
    Case("mlm-corrupt-model", lambda w, d: ["mlm", str(w.smi), "-o", str(d / "m"), "--model", str(d / "base")],
         "base/model.safetensors is not a readable safetensors file",
         setup=lambda w, d: (shutil.copytree(w.base, d / "base"), _truncate_weights(d / "base"))),
    # -- finetune ---------------------------------------------------------------------------------------------
    Case("finetune-output-is-input", lambda w, d: ["finetune", str(d / "b.parquet"), "-o", str(d / "b.parquet"),
                                                   "--model", str(w.base)], "is also the input SPLIT",
         setup=lambda w, d: shutil.copy(w.split, d / "b.parquet")),
    Case("finetune-foreign-folder", lambda w, d: ["finetune", str(w.split), "-o", str(d / "runs"), "--model",
                                                  str(w.base)], "--overwrite", setup=_foreign_dir("runs")),
    Case("finetune-folder-holding-input", lambda w, d: ["finetune", str(d / "in" / "s.parquet"), "-o",
                                                        str(d / "in"), "--model", str(w.base), "--overwrite"],
         "holds the input SPLIT",
         setup=lambda w, d: ((d / "in").mkdir(), shutil.copy(w.split, d / "in" / "s.parquet"))),
    Case("finetune-output-under-a-file", lambda w, d: ["finetune", str(w.split), "-o", str(d / "f" / "ck"),
                                                       "--model", str(w.base)], "is a file, not a folder",
         setup=_write("f", "x")),
    Case("finetune-invalid-smiles", lambda w, d: ["finetune", str(d / "bad.parquet"), "-o", str(d / "ck"),
                                                  "--model", str(w.base)], "1 invalid SMILES", absent=("ck",),
         setup=_bad_split(smiles_canonical=_replace_at("smiles_canonical", 4, "C1CC(("))),
    Case("finetune-empty-smiles", lambda w, d: ["finetune", str(d / "bad.parquet"), "-o", str(d / "ck"),
                                                "--model", str(w.base)], "1 empty SMILES: row 2",
         setup=_bad_split(smiles_canonical=_replace_at("smiles_canonical", 1, ""))),
    Case("finetune-infinite-label", lambda w, d: ["finetune", str(d / "bad.parquet"), "-o", str(d / "ck"),
                                                  "--model", str(w.base)], "non-finite labels",
         setup=_bad_split(label=_replace_at("label", 0, float("inf")))),
    Case("finetune-unknown-split", lambda w, d: ["finetune", str(d / "bad.parquet"), "-o", str(d / "ck"),
                                                 "--model", str(w.base)], "split other than train, valid, test",
         setup=_bad_split(split=_replace_at("split", 3, "training"))),
    Case("finetune-missing-train-label", lambda w, d: ["finetune", str(d / "bad.parquet"), "-o", str(d / "ck"),
                                                       "--model", str(w.base)], "rows without a label",
         setup=_bad_split(label=_replace_at("label", 0, None))),
    Case("finetune-corrupt-base", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                str(d / "base")], "base/model.safetensors",
         setup=lambda w, d: (shutil.copytree(w.base, d / "base"), _random_weights(d / "base"))),
    Case("finetune-config-wrong-type", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                     str(w.base), "--config", str(d / "ft.toml")],
         "field `lr` must be a number, got 'fast'", setup=_write("ft.toml", '[finetune]\nlr = "fast"\n')),
    Case("finetune-too-long-with-no-truncate", lambda w, d: ["finetune", str(d / "long.parquet"), "-o",
                                                             str(d / "ck"), "--model", str(w.base),
                                                             "--no-truncate"],
         "--truncate", setup=_bad_split("long.parquet", smiles_canonical=_replace_at("smiles_canonical", 0,
                                                                                      LONG_SMILES)),
         not_in_error=("truncate=True",)),
    Case("finetune-interrupted", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                               str(w.base)], "interrupted", code=130, absent=("ck",),
         patch=_interrupt("molpeft_cli.training.regression:finetune_supervised")),
    Case("finetune-interrupted-keeps-old", lambda w, d: ["finetune", str(w.split), "-o", str(d / "ck"), "--model",
                                                         str(w.base)], "interrupted", code=130,
         setup=lambda w, d: shutil.copytree(w.checkpoint, d / "ck"),
         patch=_interrupt("molpeft_cli.training.regression:finetune_supervised")),
    # -- eval -------------------------------------------------------------------------------------------------
    Case("eval-output-is-data", lambda w, d: ["eval", str(w.checkpoint), str(w.split), "-o", str(w.split)],
         "is also the input DATA"),
    Case("eval-output-is-checkpoint", lambda w, d: ["eval", str(w.checkpoint), str(w.split), "-o",
                                                    str(w.checkpoint)], "is also the input CKPT"),
    Case("eval-no-labels", lambda w, d: ["eval", str(w.checkpoint), str(d / "bad.parquet"), "-o",
                                         str(d / "p.parquet")], "has no labels",
         setup=_bad_split(label=lambda t: [None] * t.height)),
    Case("eval-truncated-weights", lambda w, d: ["eval", str(d / "ck"), str(w.split), "-o", str(d / "p.parquet")],
         "ck/model.safetensors", setup=_copy_checkpoint("ck", _truncate_weights)),
    Case("eval-random-weights", lambda w, d: ["eval", str(d / "ck"), str(w.split), "-o", str(d / "p.parquet")],
         "ck/model.safetensors", setup=_copy_checkpoint("ck", _random_weights)),
    Case("eval-broken-finetune-json", lambda w, d: ["eval", str(d / "ck"), str(w.split), "-o",
                                                    str(d / "p.parquet")], "finetune.json is not valid JSON",
         setup=_copy_checkpoint("ck", _broken_meta)),
    Case("eval-other-hidden-size", lambda w, d: ["eval", str(d / "ck"), str(w.split), "-o", str(d / "p.parquet")],
         "tensors do not fit", setup=_copy_checkpoint("ck", _other_hidden_size)),
    Case("eval-metrics-is-output", lambda w, d: ["eval", str(w.checkpoint), str(w.split), "-o",
                                                 str(d / "p.parquet"), "--metrics", str(d / "p.parquet")],
         "name the same path"),
    # -- predict ----------------------------------------------------------------------------------------------
    Case("predict-output-is-input", lambda w, d: ["predict", str(w.checkpoint), "-i", str(d / "e.smi"), "-o",
                                                  str(d / "e.smi")], "is also the input --input",
         setup=lambda w, d: shutil.copy(w.smi, d / "e.smi")),
    Case("predict-corrupt-gzip", lambda w, d: ["predict", str(w.checkpoint), "-i", str(d / "e.smi.gz")],
         "cannot read", setup=_write("e.smi.gz", b"\x1f\x8b\x08\x00garbage")),
    Case("predict-strict", lambda w, d: ["predict", str(w.checkpoint), "CCO", "C1CC((", "--strict"], "--strict"),
    # -- influence --------------------------------------------------------------------------------------------
    Case("influence-scope-too-deep", lambda w, d: ["influence", str(w.checkpoint), "--train", str(w.split),
                                                   "--pool", str(w.pool), "-o", str(d / "s.parquet"),
                                                   "--params", "last-99", "--depth", "2"], "--params last-99"),
    Case("influence-unlabelled-pool", lambda w, d: ["influence", str(w.checkpoint), "--train", str(w.split),
                                                    "--pool", str(d / "pool.csv"), "-o", str(d / "s.parquet")],
         "no label column", setup=_write("pool.csv", "smiles\nCCO\nCCN\n"),
         not_in_error=("--label-col", "--unlabeled")),
    Case("influence-output-is-pool", lambda w, d: ["influence", str(w.checkpoint), "--train", str(w.split),
                                                   "--pool", str(w.pool), "-o", str(w.pool)],
         "is also the input --pool"),
    # -- select -----------------------------------------------------------------------------------------------
    Case("select-output-is-pool", lambda w, d: ["select", str(w.pool), "-o", str(w.pool), "-k", "2"],
         "is also the input POOL"),
    Case("select-exclude-bad-split", lambda w, d: ["select", str(w.pool), "-o", str(d / "sel.parquet"), "-k", "2",
                                                   "--exclude", str(d / "bad.parquet")], "split other than",
         setup=_bad_split(split=_replace_at("split", 0, "TEST"))),
    # -- run --------------------------------------------------------------------------------------------------
    Case("run-foreign-folder", lambda w, d: ["run", "-o", str(d / "runs"), "--profile", "tiny"],
         "not a molpeft run directory", setup=_foreign_dir("runs")),
    Case("run-locked", lambda w, d: ["run", "-o", str(d / "r"), "--profile", "tiny"], "is in use by",
         setup=_make_run_dir("r"), context=_held_lock("r")),
    Case("run-interrupted", lambda w, d: ["run", "-o", str(d / "r"), "--profile", "tiny"], "interrupted",
         code=130, allowed_new=("r",),
         patch=_interrupt("molpeft_cli.data.molecules:build_molecule_table")),
    Case("run-pool-missing", lambda w, d: ["run", "-o", str(d / "r"), "--pool", str(d / "none.csv")],
         "pool file not found"),
    # -- report -----------------------------------------------------------------------------------------------
    Case("report-over-its-run", lambda w, d: ["report", str(d / "r"), "-o", str(d / "r")],
         "is also the input RUN_DIR",
         setup=_make_run_dir("r")),
    Case("report-foreign-folder", lambda w, d: ["report", str(d / "r"), "-o", str(d / "runs")], "runs",
         setup=lambda w, d: (_make_run_dir("r")(w, d), _foreign_dir("runs")(w, d))),
]


def _snapshot(*roots: Path) -> dict[str, str]:
    files = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith(".molpeft.lock"):
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return files


def _entries(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from molpeft_cli.console import console

    monkeypatch.setattr(console, "width", 1000)  # one message, one line (no wrapping at the runner's 80 columns)
    d = tmp_path / "case"
    d.mkdir()
    monkeypatch.chdir(d)
    monkeypatch.setenv("MOLPEFT_CACHE_DIR", str(tmp_path / "cache"))
    if case.setup:
        case.setup(world, d)
    before = _snapshot(world.root, world.base, d)
    entries = _entries(d)
    if case.patch:
        case.patch(monkeypatch)
    with case.context(world, d) if case.context else contextlib.nullcontext():
        result = invoke(CliRunner(), ["--threads", "1", *case.argv(world, d)])
    assert result.exit_code == case.code, result.output
    assert_one_line_error(result, case.needle)
    line = next(x for x in result.stderr.splitlines() if x.startswith("error:"))
    for text in case.not_in_error:
        assert text not in line, line
    after = _snapshot(world.root, world.base, d)
    changed = [p for p, digest in before.items() if after.get(p) != digest]
    assert not changed, f"pre-existing files changed or lost: {changed}"
    new = _entries(d) - entries - set(case.allowed_new)
    assert not new, f"left behind: {sorted(new)}"
    for name in case.absent:
        assert not (d / name).exists(), name


def test_corpus_covers_every_command() -> None:
    fake = World(*(Path(f"/w/{i}") for i in range(9)))
    commands = {case.argv(fake, Path("/d"))[0] for case in CASES}
    assert commands == {"data", "carve", "split", "audit", "mlm", "finetune", "eval", "predict", "influence",
                        "select", "run", "report"}
    assert len(CASES) >= 40 and len({case.name for case in CASES}) == len(CASES)
