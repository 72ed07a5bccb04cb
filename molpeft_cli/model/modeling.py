"""The MoLFormer encoder (`MolformerModel`) and the base class shared with the task models in `heads.py`.

Module names reproduce the published checkpoint's state-dict keys (see the reference document): `embeddings.`,
`encoder.layer.{i}.attention.self.{query,key,value,feature_map}`, `...attention.output.{dense,LayerNorm}`,
`...intermediate.dense`, `...output.{dense,LayerNorm}`, and a final `LayerNorm`. Layers are post-LayerNorm
(BERT style); the pooled output is the mean of the final token states over non-padded positions.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.modeling_outputs import BaseModelOutputWithPooling

from molpeft_cli.model.attention import MolformerFeatureMap, MolformerSelfAttention
from molpeft_cli.model.config import MolformerConfig


def masked_mean(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of [batch, length, hidden] states over the positions where the mask is 1."""
    mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class MolformerEmbeddings(nn.Module):
    """Token embeddings then dropout; positions enter through rotary embeddings in attention instead."""

    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(
            config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id
        )
        self.dropout = nn.Dropout(config.embedding_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.word_embeddings(input_ids))


class MolformerResidualOutput(nn.Module):
    """dense -> dropout -> LayerNorm(residual + .): the `attention.output` and `output` blocks of a layer."""

    def __init__(self, config: MolformerConfig, in_features: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(hidden_states)))


class MolformerAttention(nn.Module):
    def __init__(self, config: MolformerConfig, layer_idx: int) -> None:
        super().__init__()
        self.self = MolformerSelfAttention(config, layer_idx)
        self.output = MolformerResidualOutput(config, config.hidden_size)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class MolformerIntermediate(nn.Module):
    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states))


class MolformerLayer(nn.Module):
    def __init__(self, config: MolformerConfig, layer_idx: int) -> None:
        super().__init__()
        self.attention = MolformerAttention(config, layer_idx)
        self.intermediate = MolformerIntermediate(config)
        self.output = MolformerResidualOutput(config, config.intermediate_size)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden_states, attention_mask)
        return self.output(self.intermediate(attended), attended)


class MolformerEncoder(nn.Module):
    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(MolformerLayer(config, i) for i in range(config.num_hidden_layers))


def _is_loaded(tensor: torch.Tensor) -> bool:
    """True for tensors from_pretrained filled from a checkpoint (transformers marks them): skip re-init."""
    return bool(getattr(tensor, "_is_hf_initialized", False))


class MolformerPreTrainedModel(PreTrainedModel):
    """Weight initialisation and loading conventions shared by all MoLFormer models."""

    config_class = MolformerConfig
    config: MolformerConfig
    base_model_prefix = "molformer"
    _no_split_modules = ["MolformerLayer"]

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        with torch.no_grad():
            if isinstance(module, nn.Linear):
                if not _is_loaded(module.weight):
                    module.weight.normal_(0.0, std)
                if module.bias is not None and not _is_loaded(module.bias):
                    module.bias.zero_()
            elif isinstance(module, nn.Embedding) and not _is_loaded(module.weight):
                module.weight.normal_(0.0, std)
                if module.padding_idx is not None:
                    module.weight[module.padding_idx].zero_()
            elif isinstance(module, nn.LayerNorm):
                if not _is_loaded(module.weight):
                    module.weight.fill_(1.0)
                if not _is_loaded(module.bias):
                    module.bias.zero_()
            elif isinstance(module, MolformerFeatureMap) and not _is_loaded(module.weight):
                module.reset_features()


class MolformerModel(MolformerPreTrainedModel):
    """The encoder: `last_hidden_state` (after the final LayerNorm), `pooler_output` (masked mean)."""

    def __init__(self, config: MolformerConfig) -> None:
        super().__init__(config)
        self.embeddings = MolformerEmbeddings(config)
        self.encoder = MolformerEncoder(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.word_embeddings = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutputWithPooling | tuple:
        """input_ids [batch, length] padded on the right; attention_mask: 1 token, 0 padding."""
        if output_attentions:
            raise ValueError(
                "MoLFormer's linear attention never forms attention matrices; output_attentions is off"
            )
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            hidden = self.embeddings(input_ids)
        else:
            hidden = self.embeddings.dropout(inputs_embeds)
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2], dtype=torch.long, device=hidden.device)
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        all_hidden = [hidden] if output_hidden_states else None
        for layer in self.encoder.layer:
            hidden = layer(hidden, attention_mask)
            if all_hidden is not None:
                all_hidden.append(hidden)
        hidden = self.LayerNorm(hidden)
        pooled = masked_mean(hidden, attention_mask)
        hidden_states = tuple(all_hidden) if all_hidden is not None else None
        if return_dict is False:
            return tuple(x for x in (hidden, pooled, hidden_states) if x is not None)
        return BaseModelOutputWithPooling(
            last_hidden_state=hidden, pooler_output=pooled, hidden_states=hidden_states
        )
