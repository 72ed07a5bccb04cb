"""The README's Python section runs as written (on a tiny model and a small sample of the data), and the API and
the CLI are two faces of one library: the same fine-tuning through either gives bitwise the same weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import invoke

README = Path(__file__).resolve().parents[2] / "README.md"
SETTINGS_LINE = re.compile(r'^source, model, pool_size, k, epochs, work = .*$', re.M)


def readme_snippet() -> str:
    text = README.read_text()
    section = text[text.index("## Python\n"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("```\n", 10)]


@pytest.fixture(scope="module")
def small_source(tmp_path_factory) -> Path:
    import polars as pl

    from molpeft_cli.data.registry import resolve_source

    table = pl.read_csv(resolve_source("lipophilicity").path).sample(n=150, seed=0, shuffle=False)
    path = tmp_path_factory.mktemp("src") / "lipo150.csv"
    table.write_csv(path)
    return path


def test_readme_snippet_runs_on_the_tiny_model(tmp_path, tiny_base, small_source, single_thread, capsys):
    import polars as pl
    import torch
    from safetensors.torch import load_file

    code = readme_snippet()
    assert len(code.strip().splitlines()) <= 20 and SETTINGS_LINE.search(code)
    settings = f"source, model, pool_size, k, epochs, work = {str(small_source)!r}, {str(tiny_base)!r}, 30, 10, 1, " \
               f"{str(tmp_path / 'work')!r}"
    namespace: dict = {}
    exec(compile(SETTINGS_LINE.sub(settings, code), "README.md", "exec"), namespace)
    work = tmp_path / "work"
    assert "test MSE" in capsys.readouterr().out
    base, after = namespace["base"], namespace["after"]
    assert base.metrics["peft"] == "lora" and after.metrics["selection"] == "mcdropout"
    assert base.metrics["n"] == after.metrics["n"] > 0
    assert all(torch.isfinite(torch.tensor([m["mse"], m["r2"]])).all() for m in (base.metrics, after.metrics))
    chosen = pl.read_parquet(work / "mcdropout.parquet")
    assert chosen.height == 10 and chosen["strategy"].unique().to_list() == ["mcdropout"]
    assert (work / "lora" / "manifest.json").exists() and (work / "lora-mc" / "finetune.json").exists()

    # the same fine-tuning through the CLI: bitwise the same adapter
    result = invoke(_runner(), ["finetune", str(work / "split.parquet"), "-o", str(tmp_path / "cli-lora"),
                                "--model", str(tiny_base), "--peft", "lora", "--max-epochs", "1", "--truncate"])
    assert result.exit_code == 0, result.output
    api_weights = load_file(work / "lora" / "adapter_model.safetensors")
    cli_weights = load_file(tmp_path / "cli-lora" / "adapter_model.safetensors")
    assert api_weights.keys() == cli_weights.keys()
    assert all(torch.equal(api_weights[k], cli_weights[k]) for k in api_weights)


def _runner():
    from typer.testing import CliRunner

    return CliRunner()
