"""Shared fixtures: a CLI runner, small molecule files, and the optional external pool from ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_POOL = REPO.parent / "shared" / "data" / "external_task2.csv"

SMALL_CSV = """id,smiles,exp
m1,CCO,1.0
m2,c1ccccc1O,2.0
m3,CC(=O)Nc1ccc(O)cc1,0.5
m4,c1ccc2ccccc2c1,3.3
m5,CCN(CC)CC,0.7
m6,OC(=O)c1ccccc1,1.9
m7,Cc1ccccc1,2.7
m8,C1CCCCC1,3.4
m9,c1ccncc1,0.6
m10,CC(C)Cc1ccc(cc1)C(C)C(=O)O,3.9
"""


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text(SMALL_CSV)
    return path


@pytest.fixture
def external_pool() -> Path:
    if not SHARED_POOL.exists():
        pytest.skip(f"the original study's external pool is not available at {SHARED_POOL}")
    return SHARED_POOL


def invoke(runner, args: list[str], input: bytes | str | None = None):
    from molpeft_cli.cli.app import app

    return runner.invoke(app, args, input=input)


def run_one_and_two_processes(runner, args: list[str], out: Path) -> tuple[Path, Path]:
    """Run a training command in this process (-> out/one) and as 2 gloo processes under torchrun (-> out/two),
    both with one thread; returns the two output directories."""
    import os
    import subprocess
    import sys

    single = invoke(runner, ["-q", "--threads", "1", *args, "-o", str(out / "one")])
    assert single.exit_code == 0, single.output
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "molpeft_cli", "-q", "--threads", "1", "--device", "cpu", *args, "-o",
                           str(out / "two")], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "one", out / "two"


def assert_one_line_error(result, contains: str | None = None) -> None:
    """A user error: non-zero exit, one `error:` line on stderr, no traceback."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    if contains:
        assert contains in lines[0], lines[0]


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A tiny MoLFormer MLM checkpoint with a vocabulary covering Lipophilicity (random weights, seeded)."""
    import json

    import polars as pl
    import torch

    import molpeft_cli.model as M
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.model.loading import save_checkpoint

    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    directory = tmp_path_factory.mktemp("base")
    vocab_path = directory / "vocab_src.json"
    vocab_path.write_text(json.dumps(M.build_vocab(smiles)))
    tokenizer = M.MolformerTokenizer(vocab_file=str(vocab_path), model_max_length=256)
    config = M.named_config("tiny", vocab_size=len(tokenizer.vocab), max_position_embeddings=256)
    torch.manual_seed(0)
    model = M.MolformerForMaskedLM(config)
    out = directory / "tiny-base"
    save_checkpoint(model, tokenizer, out)
    return out


@pytest.fixture
def single_thread():
    """Tiny models gain nothing from threads, and on a busy machine OpenMP threads make them crawl. Folders of
    small-model tests make this autouse in their own conftest."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
