# ruff: noqa: E501  (the model card is a markdown table; its rows are long by nature)
"""Copy a pretrained checkpoint from `molpeft mlm` into the package as the bundled `molformer-mini`, with a model
card written from its own training log (step, wall time, held-out masked-token accuracy).

    python bench/bundle_mini.py artifacts/pretrain/mini
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

FILES = ("config.json", "model.safetensors", "vocab.json", "tokenizer_config.json", "training_log.parquet")
TARGET = Path(__file__).resolve().parents[1] / "molpeft_cli" / "assets" / "molformer-mini"


def main() -> None:
    import polars as pl

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--hardware", default="2-core x86_64 CPU, 1 torch thread, bfloat16 autocast, no GPU")
    args = parser.parse_args()
    src = args.checkpoint
    state = json.loads((src / "trainer_state" / "state.json").read_text())["state"] \
        if (src / "trainer_state" / "state.json").exists() else {}
    log = pl.read_parquet(src / "training_log.parquet")
    last = log.row(-1, named=True)
    config = json.loads((src / "config.json").read_text())
    vocab = json.loads((src / "vocab.json").read_text())
    import safetensors.torch

    tensors = safetensors.torch.load_file(str(src / "model.safetensors"))
    n_params = sum(t.numel() for k, t in tensors.items() if not k.startswith("lm_head.decoder"))
    encoder = sum(t.numel() for k, t in tensors.items() if k.startswith("molformer."))
    tmp = TARGET.with_name(TARGET.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in FILES:
        shutil.copy2(src / name, tmp / name)
    steps = int(last["step"])
    hours = float(last["seconds"]) / 3600
    card = f"""# molformer-mini (bundled with molpeft)

A small MoLFormer (same architecture as MoLFormer-XL: rotary embeddings, linear attention with a fixed seeded
random-feature map, post-LayerNorm encoder) pretrained by this project with its own `molpeft mlm --from-scratch`.
It is the default `--model` of `molpeft`, so everything runs offline.

| | |
|---|---|
| layers / hidden / heads / FFN | {config['num_hidden_layers']} / {config['hidden_size']} / {config['num_attention_heads']} / {config['intermediate_size']} |
| random features per head | {config['num_random_features']} |
| vocabulary | {len(vocab)} tokens (MoLFormer SMILES regex), 0 `<unk>` on Lipophilicity |
| parameters | {encoder:,} encoder, {n_params:,} with the masked-LM head (its decoder, shaped like the embedding, not counted) |
| objective | masked-LM (15%: 80% `<mask>`, 10% random, 10% kept) + 0.5 x z-scored RDKit descriptors (Crippen logP, MR, TPSA, HBD, HBA, rotatable bonds, rings, aromatic rings, fraction sp3, weight) from the pooled output |
| corpus | MOSES train split, 1,584,663 SMILES (ZINC clean leads), from the PyPI wheel `molsets==0.3.1`, MIT license; 1,000 held out |
| vocabulary extra | Lipophilicity SMILES strings (tokens only, never labels) |
| training | {steps:,} steps of 64 molecules ({steps * 64:,} molecules, {steps * 64 / 1_583_663:.2f} epochs), AdamW lr 3e-4, 5% warmup, cosine decay planned over 12,000 steps, gradient clip 1.0 |
| wall time / hardware | {hours:.2f} h on a {args.hardware} |
| held-out masked-token accuracy | {last['heldout_accuracy']:.3f} (held-out MLM loss {last['heldout_mlm_loss']:.3f}, descriptor MSE {last['heldout_descriptor_loss']:.3f}) at step {steps:,} |
| stopped | {state.get('stop_reason') or 'at the session time budget (resumable with the same command)'} |

`training_log.parquet` has the held-out evaluation every 500 steps. `bench/pretraining_gain.sh` measures what the
model is worth downstream (full fine-tuning vs random initialisation, 3 seeds); its figures belong here too.

## Reproduce
```bash
bench/pretrain_mini.sh 95      # MOSES from the molsets wheel (not installed), then:
# molpeft --threads 1 --seed 0 mlm artifacts/corpus/moses_train.csv.gz -o artifacts/pretrain/mini \\
#     --from-scratch --config mini --vocab-extra molpeft_cli/assets/lipophilicity.csv \\
#     --descriptor-weight 0.5 --descriptor-cache artifacts/corpus/moses_descriptors.parquet \\
#     --bf16 --batch-size 64 --lr 3e-4 --warmup 0.05 --schedule cosine --max-steps 12000 \\
#     --holdout 1000 --eval-every 500 --patience 3 --save-every 500 --max-minutes 95 --resume
python bench/bundle_mini.py artifacts/pretrain/mini
```
The run is resumable (`--resume` continues from `trainer_state/`), so it can be trained longer across sittings
or on a GPU and bundled again.

## Licenses
Weights: trained by the molpeft project from MOSES (MIT). Vocabulary tokens also from MoleculeNet Lipophilicity
SMILES (CC BY-SA 3.0; no labels were used in pretraining).
"""
    (tmp / "README.md").write_text(card)
    shutil.rmtree(TARGET, ignore_errors=True)
    tmp.rename(TARGET)
    print(f"bundled {src} -> {TARGET} (step {steps}, held-out accuracy {last['heldout_accuracy']:.3f})")


if __name__ == "__main__":
    main()
