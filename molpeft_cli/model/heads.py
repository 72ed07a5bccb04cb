"""Task models on the MoLFormer encoder (kept under `molformer.`): masked-LM and single-output regression, and the
losses of the tasks' single output (MSE; binary cross-entropy on the logit for classification, `task_loss`).

State-dict keys of the heads:
- `MolformerForMaskedLM`: `lm_head.transform.dense`, `lm_head.transform.LayerNorm`, `lm_head.decoder` (no
  bias), as in the published checkpoint; the decoder is not tied to the input embeddings.
- `MolformerForRegression`: `regressor.out_proj.{weight,bias}` (the original study's head: dropout on the masked-mean
  pooled output, then one linear layer to 1 output; dropout = config.classifier_dropout_prob, or
  hidden_dropout_prob when that is None). The published port's `classifier.{dense,dense2,out_proj}` head is a
  different, deeper head: its keys are ignored when loading (see `molpeft_cli.model.loading`). Binary
  classification uses the same head: its one output is the logit of the positive class.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers.activations import ACT2FN
from transformers.modeling_outputs import MaskedLMOutput, ModelOutput

from molpeft_cli.model.config import MolformerConfig
from molpeft_cli.model.modeling import MolformerModel, MolformerPreTrainedModel

IGNORE_INDEX = -100  # label of the positions the masked-LM loss skips


def chosen_token_loss(chosen_logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
    """The masked-LM loss: mean cross-entropy over the chosen positions only (`chosen_logits` [n, vocab], `gold`
    [n]), in float32 (bf16 autocast logits are upcast)."""
    return nn.functional.cross_entropy(chosen_logits.float(), gold, reduction="sum") / gold.numel()


def masked_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """`chosen_token_loss` for logits at every position and labels with IGNORE_INDEX where nothing was chosen."""
    chosen = labels != IGNORE_INDEX
    return chosen_token_loss(logits[chosen], labels[chosen])


def regression_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """The regression loss: MSE of the head's single output (`logits` [batch, 1]) against `labels` [batch];
    bf16/fp16 outputs (autocast) are compared in float32. `reduction="none"`: one loss per row."""
    prediction = logits.squeeze(-1)
    if prediction.dtype in (torch.bfloat16, torch.float16):
        prediction = prediction.float()
    return nn.functional.mse_loss(prediction, labels.to(prediction.dtype).view(-1), reduction=reduction)


def binary_classification_loss(logits: torch.Tensor, labels: torch.Tensor, pos_weight: float | None = None,
                               reduction: str = "mean") -> torch.Tensor:
    """The binary classification loss: cross-entropy of the head's single logit (`logits` [batch, 1]) against 0/1
    `labels` [batch] (BCE with logits), in float32 under autocast. `pos_weight` multiplies the positive rows' term
    (imbalance; None = 1). `reduction="none"`: one loss per row; "mean" averages the rows (weighted or not)."""
    logit = logits.squeeze(-1)
    if logit.dtype in (torch.bfloat16, torch.float16):
        logit = logit.float()
    weight = None if pos_weight is None else torch.as_tensor(float(pos_weight), dtype=logit.dtype,
                                                             device=logit.device)
    return nn.functional.binary_cross_entropy_with_logits(logit, labels.to(logit.dtype).view(-1),
                                                          pos_weight=weight, reduction=reduction)


def task_loss(task: str, pos_weight: float | None = None) -> Callable[..., torch.Tensor]:
    """The fine-tuning loss of `task` as `loss(logits, labels, reduction="mean")`: `regression_loss`, or
    `binary_classification_loss` with `pos_weight` (classification only) bound."""
    from molpeft_cli.tasks import REGRESSION, check_task

    if check_task(task) == REGRESSION:
        if pos_weight is not None:
            raise ValueError("pos_weight applies to classification only")
        return regression_loss
    return functools.partial(binary_classification_loss, pos_weight=pos_weight)


class MolformerLMTransform(nn.Module):
    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.activation(self.dense(hidden_states)))


class MolformerLMHead(nn.Module):
    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.transform = MolformerLMTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class MolformerForMaskedLM(MolformerPreTrainedModel):
    """Encoder + MLM head; `labels` [batch, length] with -100 at positions that are not scored."""

    def __init__(self, config: MolformerConfig) -> None:
        super().__init__(config)
        self.molformer = MolformerModel(config)
        self.lm_head = MolformerLMHead(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.molformer.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.molformer.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.decoder

    def set_output_embeddings(self, value: nn.Linear) -> None:
        self.lm_head.decoder = value

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
    ) -> MaskedLMOutput:
        encoded = self.molformer(
            input_ids,
            attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        logits = self.lm_head(encoded.last_hidden_state)
        loss = None
        if labels is not None:
            loss = masked_lm_loss(logits, labels)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=encoded.hidden_states)


class MolformerRegressionHead(nn.Module):
    """dropout -> linear to 1 output, on the pooled encoder output; with `config.extra_features` = d > 0, on the
    pooled output and d standardised molecule features side by side (`finetune --features`)."""

    def __init__(self, config: MolformerConfig) -> None:
        super().__init__()
        self.extra_features = int(getattr(config, "extra_features", 0) or 0)
        self.dropout = nn.Dropout(config.effective_classifier_dropout)
        self.out_proj = nn.Linear(config.hidden_size + self.extra_features, 1)

    def forward(self, pooled: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        if self.extra_features:
            if features is None or features.shape[-1] != self.extra_features:
                got = "none" if features is None else f"{features.shape[-1]}"
                raise ValueError(f"this regression head takes {self.extra_features} molecule features beside the "
                                 f"embedding, got {got}")
            pooled = torch.cat([pooled, features.to(pooled.dtype)], dim=-1)
        elif features is not None:
            raise ValueError("this regression head takes no molecule features (it was built without molecule features)")
        return self.out_proj(self.dropout(pooled))


@dataclass
class MolformerRegressionOutput(ModelOutput):
    """`logits` [batch, 1] are the predictions; `pooled_output` [batch, hidden] is what the head sees beside any
    molecule features (the embedding used by distance- and gradient-based selection)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    pooled_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class MolformerForRegression(MolformerPreTrainedModel):
    """Encoder + the original study's regression head; loss = MSE against `labels` [batch] when given.
    `features` [batch, config.extra_features]: the standardised molecule features a head built with them needs."""

    def __init__(self, config: MolformerConfig) -> None:
        config.num_labels = 1
        config.problem_type = "regression"
        super().__init__(config)
        self.molformer = MolformerModel(config)
        self.regressor = MolformerRegressionHead(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.molformer.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.molformer.set_input_embeddings(value)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        features: torch.Tensor | None = None,
    ) -> MolformerRegressionOutput:
        encoded = self.molformer(
            input_ids,
            attention_mask,
            inputs_embeds=inputs_embeds,
            output_hidden_states=output_hidden_states,
            output_attentions=output_attentions,
        )
        pooled = encoded.pooler_output
        logits = self.regressor(pooled, features)
        loss = None
        if labels is not None:
            loss = regression_loss(logits, labels)
        return MolformerRegressionOutput(
            loss=loss, logits=logits, pooled_output=pooled, hidden_states=encoded.hidden_states
        )
