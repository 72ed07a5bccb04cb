"""The published MoLFormer checkpoint layout, written out from the reference document with plain
safetensors/json code (independent of the package's own save code), for loading tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

# The published config's fields, as the reference document lists them (XL values).
XL_FIELDS = dict(
    vocab_size=2362,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=768,
    hidden_act="gelu",
    hidden_dropout_prob=0.1,
    embedding_dropout_prob=0.2,
    max_position_embeddings=202,
    initializer_range=0.02,
    layer_norm_eps=1e-12,
    linear_attention_eps=1e-6,
    num_random_features=32,
    feature_map_kernel="relu",
    deterministic_eval=False,
    classifier_dropout_prob=None,
    classifier_skip_connection=True,
    pad_token_id=2,
)
TINY_FIELDS = {
    **XL_FIELDS,
    "vocab_size": 40,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "num_random_features": 16,
}


def reference_encoder_shapes(fields: dict) -> dict[str, tuple[int, ...]]:
    """Encoder tensor shapes of the published layout, written out from the reference document."""
    h, i, v = fields["hidden_size"], fields["intermediate_size"], fields["vocab_size"]
    d, m = h // fields["num_attention_heads"], fields["num_random_features"]
    shapes: dict[str, tuple[int, ...]] = {"embeddings.word_embeddings.weight": (v, h)}
    for layer in range(fields["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for name in ("query", "key", "value"):
            shapes[f"{p}attention.self.{name}.weight"] = (h, h)
            shapes[f"{p}attention.self.{name}.bias"] = (h,)
        shapes[f"{p}attention.self.feature_map.weight"] = (d, m)
        shapes[f"{p}attention.output.dense.weight"] = (h, h)
        shapes[f"{p}attention.output.dense.bias"] = (h,)
        shapes[f"{p}attention.output.LayerNorm.weight"] = (h,)
        shapes[f"{p}attention.output.LayerNorm.bias"] = (h,)
        shapes[f"{p}intermediate.dense.weight"] = (i, h)
        shapes[f"{p}intermediate.dense.bias"] = (i,)
        shapes[f"{p}output.dense.weight"] = (h, i)
        shapes[f"{p}output.dense.bias"] = (h,)
        shapes[f"{p}output.LayerNorm.weight"] = (h,)
        shapes[f"{p}output.LayerNorm.bias"] = (h,)
    shapes["LayerNorm.weight"] = (h,)
    shapes["LayerNorm.bias"] = (h,)
    return shapes


def reference_head_shapes(fields: dict, head: str) -> dict[str, tuple[int, ...]]:
    h, v = fields["hidden_size"], fields["vocab_size"]
    if head == "lm_head":
        return {
            "lm_head.transform.dense.weight": (h, h),
            "lm_head.transform.dense.bias": (h,),
            "lm_head.transform.LayerNorm.weight": (h,),
            "lm_head.transform.LayerNorm.bias": (h,),
            "lm_head.decoder.weight": (v, h),
        }
    if head == "classifier":  # the port's 2-hidden-layer regression head
        return {
            "classifier.dense.weight": (h, h),
            "classifier.dense.bias": (h,),
            "classifier.dense2.weight": (h, h),
            "classifier.dense2.bias": (h,),
            "classifier.out_proj.weight": (1, h),
            "classifier.out_proj.bias": (1,),
        }
    raise ValueError(head)


def reference_vocab(size: int) -> dict[str, int]:
    """A vocab.json of `size` entries with <pad> at 2 and <mask>/<unk> in another order than ours."""
    specials = ["<bos>", "<eos>", "<pad>", "<mask>", "<unk>"]
    atoms = [
        "C",
        "c",
        "(",
        ")",
        "O",
        "1",
        "N",
        "=",
        "n",
        "2",
        "F",
        "Cl",
        "S",
        "[C@@H]",
        "[C@H]",
        "#",
        "Br",
        "o",
        "s",
    ]
    tokens = specials + atoms + [f"[Xx{i}]" for i in range(size - len(specials) - len(atoms))]
    return {t: i for i, t in enumerate(tokens)}


def write_reference_checkpoint(
    directory: Path,
    fields: dict,
    heads: tuple[str, ...] = ("lm_head",),
    prefix: str = "molformer.",
    weights: str = "safetensors",
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Write config.json, vocab.json and random weights in the published layout; return the tensors."""
    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    shapes = {prefix + k: s for k, s in reference_encoder_shapes(fields).items()}
    for head in heads:
        shapes.update(reference_head_shapes(fields, head))
    tensors = {k: torch.randn(s, generator=generator) * 0.05 for k, s in shapes.items()}
    config = {
        **fields,
        "model_type": "molformer",
        "architectures": ["MolformerForMaskedLM"],
        "auto_map": {"AutoConfig": "configuration_molformer.MolformerConfig"},
        "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    (directory / "vocab.json").write_text(json.dumps(reference_vocab(fields["vocab_size"])))
    if weights == "safetensors":
        save_file(tensors, str(directory / "model.safetensors"))
    else:
        torch.save(tensors, directory / "pytorch_model.bin")
    return tensors


def encoder_parameter_count(vocab: int, hidden: int, layers: int, intermediate: int) -> int:
    """Embeddings + per layer (q, k, v, attention output: 4 dense h x h with bias; 2 LayerNorms; FFN in and
    out) + the final LayerNorm. The feature matrices are buffers, not parameters."""
    per_layer = 4 * (hidden * hidden + hidden) + 2 * 2 * hidden
    per_layer += (hidden * intermediate + intermediate) + (intermediate * hidden + hidden)
    return vocab * hidden + layers * per_layer + 2 * hidden
