"""Attention against independent references, determinism, padding and batch invariance, and gradients."""

from __future__ import annotations

import math

import pytest
import torch

import molpeft_cli.model as molformer
from molpeft_cli.model.attention import (
    MolformerSelfAttention,
    apply_rotary,
    draw_feature_matrix,
    linear_attention,
    rotary_cos_sin,
)
from molpeft_cli.model.encoding import encode_smiles
from molpeft_cli.training.batching import collate


def rotary_by_complex_numbers(x: torch.Tensor) -> torch.Tensor:
    """Reference rotary embedding: pair dims (i, i + d/2) as a complex number and multiply by exp(1j * pos *
    theta_i), theta_i = 10000^(-2i/d). x: [length, d], float64."""
    length, d = x.shape
    theta = 10000.0 ** (-torch.arange(0, d // 2, dtype=torch.float64) * 2 / d)
    angle = torch.arange(length, dtype=torch.float64)[:, None] * theta[None, :]
    z = torch.complex(x[:, : d // 2], x[:, d // 2 :]) * torch.polar(torch.ones_like(angle), angle)
    return torch.cat([z.real, z.imag], dim=1)


def naive_attention(phi_q, phi_k, value, mask, eps):
    """Quadratic form: explicit L x L weights phi(q_i).phi(k_j), masked, normalised per row."""
    batch, heads, length, _ = phi_q.shape
    out = torch.zeros_like(value)
    for b in range(batch):
        for h in range(heads):
            weights = torch.zeros(length, length, dtype=phi_q.dtype)
            for i in range(length):
                for j in range(length):
                    weights[i, j] = torch.dot(phi_q[b, h, i], phi_k[b, h, j]) * mask[b, j]
            norm = weights.sum(dim=1, keepdim=True).clamp(min=eps)
            out[b, h] = (weights / norm) @ value[b, h]
    return out


def test_feature_matrix_shape_seed_and_orthogonal_blocks():
    w = draw_feature_matrix(8, 20, torch.Generator().manual_seed(3))
    assert w.shape == (8, 20) and w.dtype == torch.float32
    assert torch.equal(w, draw_feature_matrix(8, 20, torch.Generator().manual_seed(3)))
    assert not torch.equal(w, draw_feature_matrix(8, 20, torch.Generator().manual_seed(4)))
    # Within a block of head_dim features the directions are orthogonal: W_b^T W_b is diagonal.
    block = w[:, :8].double()
    gram = block.T @ block
    assert torch.allclose(
        gram - torch.diag(torch.diagonal(gram)), torch.zeros(8, 8, dtype=torch.float64), atol=1e-5
    )


def test_layers_draw_different_features_and_models_agree(tiny_config):
    a, b = molformer.MolformerModel(tiny_config), molformer.MolformerModel(tiny_config)
    w0 = a.encoder.layer[0].attention.self.feature_map.weight
    w1 = a.encoder.layer[1].attention.self.feature_map.weight
    assert not torch.equal(w0, w1)
    assert torch.equal(w0, b.encoder.layer[0].attention.self.feature_map.weight)
    assert "encoder.layer.0.attention.self.feature_map.weight" in a.state_dict()


def test_rotary_matches_complex_rotation():
    x = torch.randn(7, 8, dtype=torch.float64)
    cos, sin = rotary_cos_sin(7, 8, x.device, torch.float64)
    assert torch.allclose(apply_rotary(x, cos, sin), rotary_by_complex_numbers(x), atol=1e-12)


def test_rotary_scores_depend_only_on_relative_position():
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    cos, sin = rotary_cos_sin(30, 16, q.device, torch.float64)

    def score(m: int, n: int) -> float:
        return float(apply_rotary(q, cos[m], sin[m]) @ apply_rotary(k, cos[n], sin[n]))

    assert score(3, 1) == pytest.approx(score(20, 18), abs=1e-10)
    assert score(0, 5) == pytest.approx(score(24, 29), abs=1e-10)
    assert score(3, 1) != pytest.approx(score(3, 2), abs=1e-6)


def test_linear_attention_equals_quadratic_reference():
    torch.manual_seed(0)
    phi_q, phi_k = torch.rand(2, 3, 6, 5), torch.rand(2, 3, 6, 5)
    value = torch.randn(2, 3, 6, 4)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.float32)
    fast = linear_attention(phi_q, phi_k * mask[:, None, :, None], value, 1e-6)
    assert torch.allclose(fast, naive_attention(phi_q, phi_k, value, mask, 1e-6), atol=1e-5)


def test_attention_module_equals_reference_from_its_weights(tiny_config):
    torch.manual_seed(1)
    attention = MolformerSelfAttention(tiny_config, layer_idx=0).double().eval()
    x = torch.randn(2, 6, tiny_config.hidden_size, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    heads, d = tiny_config.num_attention_heads, tiny_config.hidden_size // tiny_config.num_attention_heads
    w = attention.feature_map.weight

    def project(linear):
        return linear(x).view(2, 6, heads, d).transpose(1, 2)

    q, k, v = project(attention.query), project(attention.key), project(attention.value)
    q = torch.stack(
        [torch.stack([rotary_by_complex_numbers(q[b, h]) for h in range(heads)]) for b in range(2)]
    )
    k = torch.stack(
        [torch.stack([rotary_by_complex_numbers(k[b, h]) for h in range(heads)]) for b in range(2)]
    )
    expected = naive_attention(
        torch.relu(q @ w), torch.relu(k @ w), v, mask.double(), tiny_config.linear_attention_eps
    )
    expected = expected.transpose(1, 2).reshape(2, 6, -1)
    assert torch.allclose(attention(x, mask), expected, atol=1e-10)


def test_padding_never_changes_results(tiny_regressor, tiny_tokenizer):
    ids = encode_smiles(tiny_tokenizer, ["CC(=O)N[C@@H](C)Br"]).input_ids[0]
    alone = tiny_regressor(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
    # Pad with arbitrary (non-pad) token ids: the mask alone must hide them.
    junk = torch.randint(5, len(tiny_tokenizer.vocab), (7,)).tolist()
    padded_ids = torch.tensor([ids + junk])
    mask = torch.tensor([[1] * len(ids) + [0] * 7])
    padded = tiny_regressor(padded_ids, mask)
    assert torch.allclose(alone.logits, padded.logits, atol=1e-6)
    assert torch.allclose(alone.pooled_output, padded.pooled_output, atol=1e-6)


def test_prediction_alone_equals_prediction_in_a_batch_and_eval_is_repeatable(tiny_regressor, tiny_tokenizer):
    smiles = ["CCO", "FC(F)(F)S(=O)(=O)Nc1ccncc1C(=O)O", "c1ccccc1Cl" * 3]
    encoded = encode_smiles(tiny_tokenizer, smiles).input_ids
    batch = tiny_regressor(*collate(encoded, tiny_tokenizer.pad_token_id)).logits
    for i, ids in enumerate(encoded):
        alone = tiny_regressor(*collate([ids], tiny_tokenizer.pad_token_id)).logits
        assert torch.allclose(alone[0], batch[i], atol=1e-6)
    again = tiny_regressor(*collate(encoded, tiny_tokenizer.pad_token_id)).logits
    assert torch.equal(batch, again)


def test_features_fixed_in_training_unless_redraw_is_set(tiny_config, tiny_tokenizer):
    ids, mask = collate(
        encode_smiles(tiny_tokenizer, ["CCO", "c1ccccc1Cl"]).input_ids, tiny_tokenizer.pad_token_id
    )
    fixed = molformer.MolformerModel(tiny_config).train()
    assert torch.equal(fixed(ids, mask).pooler_output, fixed(ids, mask).pooler_output)

    tiny_config.redraw_features_in_training = True
    redraw = molformer.MolformerModel(tiny_config).train()
    stored = redraw.encoder.layer[0].attention.self.feature_map.weight.clone()
    torch.manual_seed(0)
    first = redraw(ids, mask).pooler_output
    assert not torch.equal(first, redraw(ids, mask).pooler_output)
    torch.manual_seed(0)
    assert torch.equal(first, redraw(ids, mask).pooler_output)  # the global seed makes redraws reproducible
    assert torch.equal(stored, redraw.encoder.layer[0].attention.self.feature_map.weight)
    redraw.eval()
    assert torch.equal(redraw(ids, mask).pooler_output, redraw(ids, mask).pooler_output)


def test_gradients_pass_gradcheck_in_float64(tiny_config):
    model = molformer.MolformerForRegression(tiny_config).double().eval()
    torch.manual_seed(2)
    embeds = torch.randn(2, 5, tiny_config.hidden_size, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])

    def predict(x: torch.Tensor) -> torch.Tensor:
        return model(inputs_embeds=x, attention_mask=mask).logits

    assert torch.autograd.gradcheck(predict, (embeds,), eps=1e-6, atol=1e-5)


def test_gradients_reach_every_parameter(tiny_regressor, tiny_tokenizer):
    ids, mask = collate(
        encode_smiles(tiny_tokenizer, ["CCO", "c1ccccc1Cl"]).input_ids, tiny_tokenizer.pad_token_id
    )
    tiny_regressor.train()
    loss = tiny_regressor(ids, mask, labels=torch.tensor([1.0, -1.0])).loss
    loss.backward()
    no_grad = [
        n for n, p in tiny_regressor.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
    ]
    assert no_grad == []
    assert math.isfinite(loss.item())
