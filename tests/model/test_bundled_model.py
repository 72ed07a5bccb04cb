"""The bundled molformer-mini: present, loads strictly by name, covers Lipophilicity, and is documented."""

from __future__ import annotations

import json

import polars as pl

from molpeft_cli.data.registry import assets_dir, resolve_source


def test_bundled_mini_loads_by_name_and_covers_lipophilicity():
    import molpeft_cli.model as M
    from molpeft_cli.model.loading import load_pretrained

    folder = assets_dir() / "molformer-mini"
    assert (folder / "model.safetensors").stat().st_size < 25 * 2**20
    loaded = load_pretrained("molformer-mini", "regression")
    # only the documented head difference: a fresh regression head, the MLM head left out
    assert all(k.startswith("regressor.") for k in loaded.report.missing_keys)
    assert all(k.startswith("lm_head.") for k in loaded.report.unexpected_keys)
    assert not any(k.startswith("molformer.") for k in loaded.report.missing_keys + loaded.report.unexpected_keys)
    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    encoded = M.encode_smiles(loaded.tokenizer, smiles, truncate=True)
    assert encoded.summary()["unknown_tokens"] == 0
    card = (folder / "README.md").read_text()
    for fact in ("MOSES", "MIT", "masked-token accuracy", "molpeft", "steps"):
        assert fact in card
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "molformer"
