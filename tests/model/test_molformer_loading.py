"""Loading synthetic checkpoints in the published layout: Auto classes, strict key checks, head rules, weight
formats, the hub path (offline, unreachable, and a fake hub on 127.0.0.1), and save/load round trips."""

from __future__ import annotations

import logging
import socket

import huggingface_hub.constants as hub_constants
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM

import molpeft_cli.model as molformer
from molpeft_cli.errors import MolpeftError
from molpeft_cli.model.loading import load_pretrained, save_checkpoint
from molpeft_cli.training.batching import collate
from tests.model.fake_hub_server import serve_repository
from tests.model.reference_layout import (
    TINY_FIELDS,
    XL_FIELDS,
    encoder_parameter_count,
    reference_encoder_shapes,
)


def assert_loaded(model: torch.nn.Module, written: dict[str, torch.Tensor], prefix: str = "") -> None:
    state = model.state_dict()
    for key, tensor in written.items():
        assert torch.equal(state[prefix + key], tensor), key


def test_xl_checkpoint_loads_through_automodel_with_no_key_differences(tmp_path, write_checkpoint):
    written = write_checkpoint(tmp_path, XL_FIELDS, heads=(), prefix="")
    model, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert isinstance(model, molformer.MolformerModel)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert set(model.state_dict()) == set(reference_encoder_shapes(XL_FIELDS))
    count = sum(p.numel() for p in model.parameters())
    assert count == encoder_parameter_count(2362, 768, 12, 768) == 44_375_040
    assert_loaded(model, written)


def test_tiny_mlm_checkpoint_loads_through_auto_classes(tmp_path, write_checkpoint):
    written = write_checkpoint(tmp_path, TINY_FIELDS, heads=("lm_head",), prefix="molformer.")
    assert isinstance(AutoConfig.from_pretrained(tmp_path), molformer.MolformerConfig)
    mlm, info = AutoModelForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    assert_loaded(mlm, written)
    encoder, info = AutoModel.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"]
    assert set(info["unexpected_keys"]) == {k for k in written if k.startswith("lm_head.")}
    assert_loaded(
        encoder, {k[len("molformer.") :]: v for k, v in written.items() if k.startswith("molformer.")}
    )


@pytest.mark.parametrize("prefix", ["", "molformer."])
def test_encoder_only_checkpoint_into_regression_initialises_the_head(tmp_path, write_checkpoint, prefix):
    written = write_checkpoint(tmp_path, TINY_FIELDS, heads=(), prefix=prefix)
    loaded = load_pretrained(tmp_path, molformer.MolformerForRegression)
    report = loaded.report
    assert report.missing_keys == ["regressor.out_proj.bias", "regressor.out_proj.weight"]
    assert report.unexpected_keys == [] and report.initialised_heads == [
        "regression head (regressor.out_proj)"
    ]
    assert_loaded(loaded.model, written, prefix="molformer." if not prefix else "")
    assert not loaded.model.training


def test_port_classifier_head_is_ignored_and_reported(tmp_path, write_checkpoint, caplog):
    caplog.set_level(logging.INFO, logger="molpeft_cli")
    write_checkpoint(tmp_path, TINY_FIELDS, heads=("classifier",))
    report = load_pretrained(tmp_path, "regression").report
    assert len(report.unexpected_keys) == 6 and all(
        k.startswith("classifier.") for k in report.unexpected_keys
    )
    assert report.ignored_heads == ["published port's regression head (classifier.dense/dense2/out_proj)"]
    err = caplog.text
    assert "a new one is initialised" in err and "classifier.dense/dense2/out_proj" in err


def test_mlm_checkpoint_into_regression_drops_the_lm_head(tmp_path, write_checkpoint):
    written = write_checkpoint(tmp_path, TINY_FIELDS, heads=("lm_head",))
    loaded = load_pretrained(tmp_path, "regression")
    assert loaded.report.ignored_heads == ["masked-LM head (lm_head.*)"]
    assert_loaded(loaded.model, {k: v for k, v in written.items() if k.startswith("molformer.")})


def test_mlm_checkpoint_with_tied_decoder_fills_it_from_the_embeddings(tmp_path, write_checkpoint):
    from safetensors.torch import load_file, save_file

    written = write_checkpoint(tmp_path, TINY_FIELDS, heads=("lm_head",))
    state = load_file(tmp_path / "model.safetensors")
    del state["lm_head.decoder.weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    loaded = load_pretrained(tmp_path, "mlm")
    embeddings = written["molformer.embeddings.word_embeddings.weight"]
    assert torch.equal(loaded.model.lm_head.decoder.weight, embeddings)
    assert any("tied" in note for note in loaded.report.notes)


def test_unknown_and_missing_encoder_keys_fail(tmp_path, write_checkpoint):
    from safetensors.torch import load_file, save_file

    write_checkpoint(tmp_path, TINY_FIELDS, heads=())
    state = load_file(tmp_path / "model.safetensors")
    state["molformer.encoder.layer.0.attention.self.rotary.extra"] = torch.zeros(2)
    del state["molformer.encoder.layer.1.attention.self.feature_map.weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MolpeftError) as error:
        load_pretrained(tmp_path, "regression")
    message = str(error.value)
    assert "1 model keys missing" in message and "layer.1.attention.self.feature_map.weight" in message
    assert "1 checkpoint keys the model lacks" in message and "rotary.extra" in message


def test_partial_head_and_shape_mismatch_fail(tmp_path, write_checkpoint):
    from safetensors.torch import load_file, save_file

    write_checkpoint(tmp_path, TINY_FIELDS, heads=("lm_head",))
    state = load_file(tmp_path / "model.safetensors")
    del state["lm_head.transform.dense.bias"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MolpeftError, match="lm_head.transform.dense.bias"):
        load_pretrained(tmp_path, "mlm")
    state["lm_head.transform.dense.bias"] = torch.zeros(7)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(MolpeftError, match=r"shapes differ.*\(7,\) vs \(32,\)"):
        load_pretrained(tmp_path, "mlm")


def test_pytorch_bin_is_loaded_with_weights_only(tmp_path, write_checkpoint):
    written = write_checkpoint(tmp_path, TINY_FIELDS, heads=("lm_head",), weights="bin")
    loaded = load_pretrained(tmp_path, "mlm")
    assert loaded.report.weights_file == "pytorch_model.bin"
    assert_loaded(loaded.model, written)
    torch.save({"weights": written, "callback": print}, tmp_path / "pytorch_model.bin")
    with pytest.raises(MolpeftError, match="refusing to unpickle"):
        load_pretrained(tmp_path, "mlm")


def test_wrong_model_type_pad_mismatch_and_missing_files(tmp_path, write_checkpoint, monkeypatch):
    write_checkpoint(tmp_path / "a", {**TINY_FIELDS, "pad_token_id": 0}, heads=())
    with pytest.raises(MolpeftError, match="<pad> is id 2 in vocab.json but 0 in config.json"):
        load_pretrained(tmp_path / "a", "encoder")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(MolpeftError, match="model_type 'bert'"):
        load_pretrained(tmp_path / "b", "encoder")
    with pytest.raises(MolpeftError, match="no config.json"):
        load_pretrained(tmp_path, "encoder")
    with pytest.raises(MolpeftError, match="not a hub id"):
        load_pretrained(str(tmp_path / "nothing" / "here"), "encoder")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MolpeftError, match="its folder a exists locally"):
        load_pretrained("a/missing", "encoder")
    with pytest.raises(MolpeftError, match="unknown model kind"):
        load_pretrained(tmp_path / "a", "classifier")


def test_config_overrides_reach_the_model(tmp_path, write_checkpoint):
    write_checkpoint(tmp_path, TINY_FIELDS, heads=())
    model = load_pretrained(tmp_path, "regression", config_overrides={"classifier_dropout_prob": 0.5}).model
    assert model.regressor.dropout.p == 0.5
    with pytest.raises(MolpeftError, match="unknown MoLFormer config field"):
        load_pretrained(tmp_path, "regression", config_overrides={"dropout": 0.5})


def test_save_and_load_round_trip_keeps_predictions(tmp_path, tiny_regressor, tiny_tokenizer):
    ids, mask = collate(molformer.encode_smiles(tiny_tokenizer, ["CCO", "c1ccccc1Cl"]).input_ids, 2)
    before = tiny_regressor(ids, mask).logits
    save_checkpoint(tiny_regressor, tiny_tokenizer, tmp_path / "ckpt")
    loaded = load_pretrained(tmp_path / "ckpt", "regression")
    assert loaded.report.missing_keys == [] and loaded.report.unexpected_keys == []
    assert torch.equal(loaded.model(ids, mask).logits, before)
    assert loaded.tokenizer.get_vocab() == tiny_tokenizer.get_vocab()


def test_hub_offline_names_the_local_alternative(tmp_path, monkeypatch):
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(MolpeftError, match=r"offline mode.*Pass a local checkpoint directory"):
        load_pretrained("ibm/MoLFormer-XL-both-10pct", "regression", cache_dir=tmp_path)


def _point_hub_at(monkeypatch, endpoint: str) -> None:
    """Send hub traffic to a loopback endpoint (and go online even where HF_HUB_OFFLINE is set for CI)."""
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    )


def test_unreachable_hub_fails_with_advice(tmp_path, monkeypatch):
    with socket.socket() as probe:  # a loopback port with nothing listening: connection refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _point_hub_at(monkeypatch, f"http://127.0.0.1:{port}")
    with pytest.raises(
        MolpeftError, match=r"ConnectError.*hf download ibm/MoLFormer-XL-both-10pct --local-dir"
    ):
        load_pretrained("ibm/MoLFormer-XL-both-10pct", "regression", cache_dir=tmp_path)


@pytest.mark.parametrize("weights", ["safetensors", "bin"])
def test_download_from_a_fake_hub_then_offline_from_cache(tmp_path, monkeypatch, write_checkpoint, weights):
    written = write_checkpoint(tmp_path / "repo", TINY_FIELDS, heads=("lm_head",), weights=weights)
    with serve_repository("ibm/fake-molformer", tmp_path / "repo") as (endpoint, requests):
        _point_hub_at(monkeypatch, endpoint)
        loaded = load_pretrained("ibm/fake-molformer", "mlm", cache_dir=tmp_path / "cache")
    assert_loaded(loaded.model, written)
    assert loaded.report.weights_file == (
        "model.safetensors" if weights == "safetensors" else "pytorch_model.bin"
    )
    assert any(r.endswith("/config.json") for r in requests)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    again = load_pretrained("ibm/fake-molformer", "mlm", cache_dir=tmp_path / "cache")
    assert again.report.directory == loaded.report.directory
