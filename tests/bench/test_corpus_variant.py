"""tools/corpus_variant.py: corpus-mix variants keep each molecule's descriptor targets, repeat nothing, and hold
the asked-for mix; tools/pretrain_gpu.py's scratch:SIZE start changes the size alone."""

from __future__ import annotations

import gzip
import importlib.util
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A built corpus in miniature: 40 'MOSES' then 10 'MoleculeACE' lines; descriptors for every ChEMBL line and
    every third MOSES line, the value encoding the line number."""
    directory = tmp_path / "built"
    directory.mkdir()
    lines = [f"C{'C' * i}O" for i in range(40)] + [f"c1ccccc1{'C' * i}N" for i in range(10)]
    with lzma.open(directory / "corpus.smi.xz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    rows = np.array(sorted(set(range(0, 40, 3)) | set(range(40, 50))), dtype=np.int32)
    values = np.repeat(rows[:, None].astype(np.float16), 3, axis=1)
    np.savez_compressed(directory / "descriptors.npz", rows=rows, values=values)
    info = {"sources": {"moses": {"wheel": "molsets==0.3.1", "license": "MIT", "kept": 40},
                        "moleculeace": {"wheel": "MoleculeACE==3.0.0", "license": "MIT", "kept": 10}},
            "corpus_sha256": "x"}
    (directory / "corpus.json").write_text(json.dumps(info))
    return directory


def _read(out: Path) -> tuple[list[str], dict[int, float], dict]:
    lines = gzip.open(out / "corpus.smi.gz", "rt").read().splitlines()
    packed = np.load(out / "descriptors.npz")
    return lines, {int(r): float(v[0]) for r, v in zip(packed["rows"], packed["values"], strict=True)}, json.loads(
        (out / "corpus.json").read_text())


def _original_line(parent: Path) -> dict[str, int]:
    lines = lzma.open(parent / "corpus.smi.xz", "rt").read().splitlines()
    return {smiles: i for i, smiles in enumerate(lines)}


def test_only_one_source_keeps_its_lines_and_their_descriptors(corpus: Path, tmp_path: Path):
    variant = _load("corpus_variant")
    assert variant.main([str(corpus), str(tmp_path / "moses"), "--only", "moses"]) == 0
    lines, descriptors, info = _read(tmp_path / "moses")
    original = _original_line(corpus)
    assert [original[s] for s in lines] == list(range(40))
    # each descriptor row still belongs to its molecule (the value is the molecule's original line number)
    assert {row: original[lines[row]] for row in descriptors} == {row: int(v) for row, v in descriptors.items()}
    assert len(descriptors) == 14
    assert info["kept"] == 40 and set(info["sources"]) == {"moses"}


def test_chembl_fraction_takes_all_chembl_and_a_seeded_moses_sample(corpus: Path, tmp_path: Path):
    variant = _load("corpus_variant")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        assert variant.main([str(corpus), str(tmp_path / name), "--chembl-fraction", "0.5", "--seed", str(seed)]) == 0
    lines, descriptors, info = _read(tmp_path / "a")
    original = _original_line(corpus)
    positions = [original[s] for s in lines]
    assert len(positions) == len(set(positions)) == 20  # 10 ChEMBL + 10 MOSES, nothing repeated
    assert sum(p >= 40 for p in positions) == 10
    assert {row: original[lines[row]] for row in descriptors} == {row: int(v) for row, v in descriptors.items()}
    assert info["sources"]["moleculeace"]["kept"] == 10 and info["sources"]["moses"]["kept"] == 10
    assert info["rule"] == {"chembl_fraction": 0.5, "seed": 0}
    assert _read(tmp_path / "b")[0] == lines  # the same seed gives the same sample
    assert _read(tmp_path / "c")[0] != lines


def test_bad_requests_fail_with_one_line(corpus: Path, tmp_path: Path):
    variant = _load("corpus_variant")
    with pytest.raises(SystemExit, match="no source 'zinc'"):
        variant.main([str(corpus), str(tmp_path / "x"), "--only", "zinc"])
    with pytest.raises(SystemExit, match="needs 90 MOSES molecules"):
        variant.main([str(corpus), str(tmp_path / "x"), "--chembl-fraction", "0.1"])
    info = json.loads((corpus / "corpus.json").read_text())
    info["sources"]["moses"]["kept"] = 39
    (corpus / "corpus.json").write_text(json.dumps(info))
    with pytest.raises(SystemExit, match="keep 49 molecules but the corpus has 50 lines"):
        variant.main([str(corpus), str(tmp_path / "x"), "--only", "moses"])
    assert not (tmp_path / "x" / "corpus.smi.gz").exists()


def test_scratch_start_changes_the_size_alone():
    pretrain = _load("pretrain_gpu")
    from molpeft_cli.model import NAMED_SIZES
    from molpeft_cli.model.loading import load_pretrained

    bundle = load_pretrained("molformer-mini", "mlm")
    fresh = pretrain.starting_point("scratch:tiny", seed=3)
    again = pretrain.starting_point("scratch:tiny", seed=3)
    assert fresh.tokenizer.vocab == bundle.tokenizer.vocab
    expected = {**bundle.model.config.to_dict(), **NAMED_SIZES["tiny"]}
    got = fresh.model.config.to_dict()
    assert {k: got[k] for k in expected if k != "transformers_version"} == {
        k: expected[k] for k in expected if k != "transformers_version"}
    for (name, a), (_, b) in zip(fresh.model.state_dict().items(), again.model.state_dict().items(), strict=True):
        assert np.array_equal(a.numpy(), b.numpy()), name
    from molpeft_cli.errors import MolpeftError

    with pytest.raises(MolpeftError, match="unknown model size 'huge'"):
        pretrain.starting_point("scratch:huge", seed=0)
