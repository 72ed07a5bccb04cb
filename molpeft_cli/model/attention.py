"""MoLFormer's linear self-attention: rotary position embeddings, a ReLU random-feature map, linear attention.

For queries q and keys k (after rotary embeddings) and the feature matrix W = `feature_map.weight`
([head_dim, num_random_features]), phi(x) = relu(x @ W), phi(k) is zero at padded positions, and

    out_i = phi(q_i) (sum_t phi(k_t)^T v_t) / max(phi(q_i) . sum_t phi(k_t), eps)

which costs O(L) instead of O(L^2), and is exactly softmax-free attention with weights phi(q_i) . phi(k_j).

When W is drawn, and when it changes:
- At init, each layer draws W from its own generator seeded with (config.feature_map_seed, layer index), so
  two models built from the same config are identical. W is a persistent buffer: saved in and loaded from
  checkpoints.
- Eval mode always uses the stored W: a molecule's prediction does not depend on the call or on its batch.
  (The published port redraws W in eval unless `deterministic_eval` is set; this implementation never does.)
- Training mode uses the stored W too, unless `config.redraw_features_in_training` is True: then every forward
  pass draws a fresh W from torch's global generator (seed it for reproducible runs) and uses it for that pass
  only; the stored W, used in eval, is never changed.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from molpeft_cli.model.config import MolformerConfig

ROTARY_BASE = 10000.0


def draw_feature_matrix(
    head_dim: int, num_features: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random orthogonal features as a [head_dim, num_features] float32 matrix (columns are feature
    directions).

    Blocks of Haar-random orthogonal head_dim x head_dim matrices (QR of a Gaussian matrix) are stacked
    row-wise, cut to num_features rows, each row is scaled by the norm of a fresh Gaussian row (so row norms
    follow a chi distribution, as for i.i.d. Gaussian features), and the result is transposed.
    """
    blocks = []
    for _ in range(math.ceil(num_features / head_dim)):
        gaussian = torch.randn(head_dim, head_dim, generator=generator, dtype=torch.float64, device="cpu")
        q, r = torch.linalg.qr(gaussian)
        # QR is unique only up to column signs; fixing them by sign(diag R) makes Q Haar-distributed.
        blocks.append((q * torch.sign(torch.diagonal(r))).T)
    directions = torch.cat(blocks, dim=0)[:num_features]
    norms = torch.randn(num_features, head_dim, generator=generator, dtype=torch.float64, device="cpu").norm(
        dim=1
    )
    return (directions * norms[:, None]).T.contiguous().float()


def layer_feature_seed(base_seed: int, layer_idx: int) -> int:
    """The seed of one layer's feature matrix: distinct per layer, fixed by the config's feature_map_seed."""
    return (base_seed * 1_000_003 + layer_idx) % (2**63)


def rotary_cos_sin(
    length: int, head_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables [length, head_dim] for positions 0..length-1 (rotate-half layout, base 10000).

    Computed per call (a few hundred numbers) rather than cached in buffers, so they are never in a state dict
    and never left uninitialised by meta-device loading.
    """
    work = torch.float64 if dtype == torch.float64 else torch.float32
    inv_freq = 1.0 / ROTARY_BASE ** (torch.arange(0, head_dim, 2, device=device, dtype=work) / head_dim)
    angles = torch.outer(torch.arange(length, device=device, dtype=work), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [..., length, head_dim]: pairs (i, i + head_dim/2) turn by angle position * inv_freq_i."""
    return x * cos + rotate_half(x) * sin


def linear_attention(
    phi_q: torch.Tensor, phi_k: torch.Tensor, value: torch.Tensor, eps: float
) -> torch.Tensor:
    """out = phi_q (phi_k^T v) / clamp(phi_q . sum_t phi_k_t, min=eps); inputs [batch, heads, length, dim]."""
    key_value = phi_k.transpose(-1, -2) @ value
    normaliser = (phi_q @ phi_k.sum(dim=-2).unsqueeze(-1)).clamp(min=eps)
    return (phi_q @ key_value) / normaliser


class MolformerFeatureMap(nn.Module):
    """Holds the random-feature matrix `weight` [head_dim, num_random_features] (a persistent buffer)."""

    def __init__(self, head_dim: int, num_features: int, seed: int) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.num_features = num_features
        self.seed = seed
        self.register_buffer("weight", self.seeded_draw())

    def seeded_draw(self) -> torch.Tensor:
        return draw_feature_matrix(self.head_dim, self.num_features, torch.Generator().manual_seed(self.seed))

    def reset_features(self) -> None:
        """Set `weight` back to the seeded draw (used at init; loaded checkpoints keep their own matrix)."""
        with torch.no_grad():
            self.weight.copy_(self.seeded_draw())

    def fresh_draw(self) -> torch.Tensor:
        """A new matrix from torch's global generator, for redrawing in training."""
        return draw_feature_matrix(self.head_dim, self.num_features).to(self.weight.device, self.weight.dtype)

    def forward(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(x @ (self.weight if weight is None else weight))


class MolformerSelfAttention(nn.Module):
    """Multi-head linear self-attention with rotary embeddings (`query`, `key`, `value`, `feature_map`)."""

    def __init__(self, config: MolformerConfig, layer_idx: int) -> None:
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.eps = config.linear_attention_eps
        self.redraw_in_training = config.redraw_features_in_training
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.feature_map = MolformerFeatureMap(
            self.head_dim, config.num_random_features, layer_feature_seed(config.feature_map_seed, layer_idx)
        )

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """hidden_states [batch, length, hidden]; attention_mask [batch, length]: 1 token, 0 padding."""
        batch, length, hidden = hidden_states.shape
        query = self.split_heads(self.query(hidden_states))
        key = self.split_heads(self.key(hidden_states))
        value = self.split_heads(self.value(hidden_states))
        cos, sin = rotary_cos_sin(length, self.head_dim, hidden_states.device, query.dtype)
        query, key = apply_rotary(query, cos, sin), apply_rotary(key, cos, sin)
        weight = self.feature_map.fresh_draw() if self.training and self.redraw_in_training else None
        phi_q = self.feature_map(query, weight)
        phi_k = self.feature_map(key, weight) * attention_mask[:, None, :, None].to(query.dtype)
        context = linear_attention(phi_q, phi_k, value, self.eps)
        return context.transpose(1, 2).reshape(batch, length, hidden)
