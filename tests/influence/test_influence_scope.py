"""Parameter scopes on names shaped like the real MoLFormer, plain and wrapped by PEFT (LoRA)."""

from __future__ import annotations

import pytest
from torch import nn

from molpeft_cli.errors import MolpeftError, SettingError
from molpeft_cli.influence import select_parameters, validate_scope


def _node(**children: nn.Module) -> nn.Module:
    module = nn.Module()
    for name, child in children.items():
        module.add_module(name, child)
    return module


def _layer(lora: bool) -> nn.Module:
    query = nn.Linear(4, 4)
    if lora:
        query.add_module("lora_A", nn.ModuleDict({"default": nn.Linear(4, 2, bias=False)}))
        query.add_module("lora_B", nn.ModuleDict({"default": nn.Linear(2, 4, bias=False)}))
    return _node(attention=_node(self=_node(query=query)), output=_node(LayerNorm=nn.LayerNorm(4)))


def fake_molformer(n_layers: int = 4, lora: bool = False, head: str = "head") -> nn.Module:
    encoder = _node(layer=nn.ModuleList([_layer(lora) for _ in range(n_layers)]))
    model = _node(molformer=_node(embeddings=nn.Embedding(9, 4), encoder=encoder, LayerNorm=nn.LayerNorm(4)))
    model.add_module(head, _node(dense=nn.Linear(4, 1)))
    return model


def names(pairs) -> list[str]:
    return [name for name, _ in pairs]


def test_plain_model_scopes() -> None:
    model = fake_molformer()
    total = len(list(model.parameters()))
    assert len(select_parameters(model, "all")) == total
    assert len(select_parameters(model, "trainable")) == total
    assert names(select_parameters(model, "head")) == ["head.dense.weight", "head.dense.bias"]
    last2 = names(select_parameters(model, "last-2"))
    assert all(".layer.2." in n or ".layer.3." in n or n.startswith("head.") for n in last2)
    assert "molformer.encoder.layer.3.attention.self.query.weight" in last2
    assert "molformer.encoder.layer.2.output.LayerNorm.bias" in last2
    assert not any(".layer.1." in n or "embeddings" in n for n in last2)
    # every layer, asked for exactly: all but embeddings and final LayerNorm
    assert len(select_parameters(model, "last-4")) == total - 3
    # more layers asked than exist is a mistake (issue 15), not silently "every layer"
    with pytest.raises(SettingError, match="params last-10 asks for 10 encoder layers, but the model has 4"):
        select_parameters(model, "last-10")


def test_head_prefix_is_a_parameter() -> None:
    model = fake_molformer(head="regressor")
    assert names(select_parameters(model, "head")) == ["regressor.dense.weight", "regressor.dense.bias"]
    with pytest.raises(MolpeftError, match="matched no trainable"):
        select_parameters(model, "head", head_prefixes=("predictor.",))


def test_peft_wrapped_model_scopes() -> None:
    model = _node(base_model=_node(model=fake_molformer(lora=True)))
    for name, p in model.named_parameters():
        p.requires_grad_("lora_" in name or ".head." in name)
    trainable = names(select_parameters(model, "trainable"))
    assert len(trainable) == 4 * 2 + 2
    assert names(select_parameters(model, "head")) == [
        "base_model.model.head.dense.weight",
        "base_model.model.head.dense.bias",
    ]
    last1 = names(select_parameters(model, "last-1"))
    assert last1 == [
        "base_model.model.molformer.encoder.layer.3.attention.self.query.lora_A.default.weight",
        "base_model.model.molformer.encoder.layer.3.attention.self.query.lora_B.default.weight",
        "base_model.model.head.dense.weight",
        "base_model.model.head.dense.bias",
    ]
    assert len(select_parameters(model, "all")) == len(list(model.parameters()))


def test_bad_scopes() -> None:
    for scope in ("last-0", "last", "heads", "last-x"):
        with pytest.raises(MolpeftError, match="unknown parameter scope"):
            validate_scope(scope)
    with pytest.raises(MolpeftError, match="layer"):
        select_parameters(nn.Sequential(nn.Linear(2, 2)), "last-1")
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(MolpeftError, match="is_trainable=True"):
        select_parameters(frozen, "trainable")
