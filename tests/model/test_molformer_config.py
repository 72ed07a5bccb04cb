"""Config defaults, named sizes and parameter counts."""

from __future__ import annotations

import subprocess
import sys

import pytest

import molpeft_cli.model as molformer
from molpeft_cli.errors import MolpeftError
from tests.model.reference_layout import XL_FIELDS, encoder_parameter_count


def test_defaults_match_the_published_config():
    config = molformer.MolformerConfig()
    for name, value in XL_FIELDS.items():
        assert getattr(config, name) == value, name
    assert config.model_type == "molformer"
    assert config.effective_classifier_dropout == config.hidden_dropout_prob


def test_xl_has_44_4_million_parameters():
    config = molformer.named_config("xl")
    model = molformer.MolformerModel(config)
    count = sum(p.numel() for p in model.parameters())
    assert count == encoder_parameter_count(2362, 768, 12, 768) == 44_375_040
    assert round(count / 1e6, 1) == 44.4


@pytest.mark.parametrize("name", ["small", "mini", "tiny"])
def test_named_sizes_count_as_the_formula_says(name):
    config = molformer.named_config(name, vocab_size=100)
    model = molformer.MolformerModel(config)
    expected = encoder_parameter_count(
        100, config.hidden_size, config.num_hidden_layers, config.intermediate_size
    )
    assert sum(p.numel() for p in model.parameters()) == expected


def test_named_config_overrides_and_unknown_name():
    config = molformer.named_config("tiny", vocab_size=50, classifier_dropout_prob=0.5)
    assert (config.vocab_size, config.classifier_dropout_prob, config.effective_classifier_dropout) == (
        50,
        0.5,
        0.5,
    )
    with pytest.raises(MolpeftError, match="unknown model size"):
        molformer.named_config("huge")


def test_invalid_head_split_is_refused():
    with pytest.raises(ValueError, match="multiple"):
        molformer.MolformerConfig(hidden_size=30, num_attention_heads=4)


def test_importing_the_package_stays_light():
    code = "import sys, molpeft_cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
