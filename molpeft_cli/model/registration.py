"""Register the native MoLFormer classes with the transformers Auto classes (done on `import
molpeft_cli.model`), so `AutoConfig`, `AutoModel`, `AutoModelForMaskedLM`,
`AutoModelForSequenceClassification` and `AutoTokenizer` load `model_type: molformer` directories without
`trust_remote_code`."""

from __future__ import annotations

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)

from molpeft_cli.model.config import MolformerConfig
from molpeft_cli.model.heads import MolformerForMaskedLM, MolformerForRegression
from molpeft_cli.model.modeling import MolformerModel
from molpeft_cli.model.tokenizer import MolformerTokenizer


def register_auto_classes() -> None:
    """Idempotent: safe to call more than once."""
    AutoConfig.register(MolformerConfig.model_type, MolformerConfig, exist_ok=True)
    AutoModel.register(MolformerConfig, MolformerModel, exist_ok=True)
    AutoModelForMaskedLM.register(MolformerConfig, MolformerForMaskedLM, exist_ok=True)
    # A 1-output regressor: AutoModelForSequenceClassification is the Auto class transformers uses for
    # regression.
    AutoModelForSequenceClassification.register(MolformerConfig, MolformerForRegression, exist_ok=True)
    AutoTokenizer.register(MolformerConfig, slow_tokenizer_class=MolformerTokenizer, exist_ok=True)
