"""MolformerConfig: the hyper-parameters of a MoLFormer encoder and its heads (`model_type = "molformer"`).

Field names and defaults follow the published MoLFormer-XL `config.json`, so that file loads as is. Four
fields are ours: `feature_map_seed` (seeds the random-feature matrices drawn at init),
`redraw_features_in_training` (see `molpeft_cli.model.attention`), `extra_features` (how many molecule features
the regression head takes beside the pooled embedding; `molpeft_cli.chem.features`), and
`classifier_dropout_prob` falling back to `hidden_dropout_prob` when None.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig


class MolformerConfig(PretrainedConfig):
    """Configuration of MoLFormer models; the defaults are those of MoLFormer-XL (44.4M encoder parameters).

    `deterministic_eval` and `classifier_skip_connection` are kept for compatibility with the published
    config: this implementation never redraws the feature map in eval mode, and its regression head (one
    linear layer) has no skip connections.
    """

    model_type = "molformer"

    def __init__(
        self,
        vocab_size: int = 2362,
        hidden_size: int = 768,
        num_hidden_layers: int = 12,
        num_attention_heads: int = 12,
        intermediate_size: int = 768,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.1,
        embedding_dropout_prob: float = 0.2,
        max_position_embeddings: int = 202,
        initializer_range: float = 0.02,
        layer_norm_eps: float = 1e-12,
        linear_attention_eps: float = 1e-6,
        num_random_features: int = 32,
        feature_map_kernel: str = "relu",
        deterministic_eval: bool = False,
        classifier_dropout_prob: float | None = None,
        classifier_skip_connection: bool = True,
        feature_map_seed: int = 0,
        redraw_features_in_training: bool = False,
        extra_features: int = 0,
        pad_token_id: int = 2,
        **kwargs: Any,
    ) -> None:
        if hidden_size % num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be a multiple of "
                f"num_attention_heads ({num_attention_heads})"
            )
        if (hidden_size // num_attention_heads) % 2 != 0:
            raise ValueError("the head dimension must be even for rotary position embeddings")
        if feature_map_kernel != "relu":
            raise ValueError(f"feature_map_kernel {feature_map_kernel!r} is not supported (only 'relu')")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.embedding_dropout_prob = embedding_dropout_prob
        self.max_position_embeddings = max_position_embeddings
        self.initializer_range = initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.linear_attention_eps = linear_attention_eps
        self.num_random_features = num_random_features
        self.feature_map_kernel = feature_map_kernel
        self.deterministic_eval = deterministic_eval
        self.classifier_dropout_prob = classifier_dropout_prob
        self.classifier_skip_connection = classifier_skip_connection
        self.feature_map_seed = feature_map_seed
        self.redraw_features_in_training = redraw_features_in_training
        if extra_features < 0:
            raise ValueError(f"extra_features must be non-negative, got {extra_features}")
        self.extra_features = extra_features
        kwargs.setdefault("tie_word_embeddings", False)
        super().__init__(pad_token_id=pad_token_id, **kwargs)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def effective_classifier_dropout(self) -> float:
        """The regression head's dropout: classifier_dropout_prob, else hidden_dropout_prob."""
        if self.classifier_dropout_prob is None:
            return self.hidden_dropout_prob
        return self.classifier_dropout_prob
