"""Copy a pretrained checkpoint (a `molpeft mlm` output directory, or `tools/pretrain_gpu.py --export`'s `final/`)
into the package as the bundled `molformer-mini`, and print the figures its model card's table states (parameters,
steps, held-out masked-token accuracy) from the checkpoint's own files.

    python tools/bundle_mini.py artifacts/pretrain/export/final

The model card (`molpeft_cli/assets/molformer-mini/README.md`) is kept: it is written by hand, because it holds
the fine-tuning evidence and the ablations, which no checkpoint knows; update its table from what this prints.
Other files already in the bundle that the checkpoint does not replace (e.g. stage 1's
`training_log_moses.parquet`) are kept too. The swap is atomic: a failed copy leaves the old bundle in place.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

FILES = ("config.json", "model.safetensors", "vocab.json", "tokenizer_config.json", "training_log.parquet")
TARGET = Path(__file__).resolve().parents[1] / "molpeft_cli" / "assets" / "molformer-mini"


def main(argv: list[str] | None = None) -> int:
    import polars as pl
    import safetensors.torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    args = parser.parse_args(argv)
    src = args.checkpoint
    missing = [name for name in FILES if not (src / name).exists()]
    if missing:
        raise SystemExit(f"error: {src} lacks {', '.join(missing)}; is it a pretrained checkpoint directory?")
    tmp = TARGET.with_name(TARGET.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if TARGET.exists():
        shutil.copytree(TARGET, tmp)
    else:
        tmp.mkdir(parents=True)
    for name in FILES:
        shutil.copy2(src / name, tmp / name)
    old = TARGET.with_name(TARGET.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if TARGET.exists():
        TARGET.rename(old)
    tmp.rename(TARGET)
    shutil.rmtree(old, ignore_errors=True)

    tensors = safetensors.torch.load_file(str(TARGET / "model.safetensors"))
    encoder = sum(t.numel() for k, t in tensors.items() if k.startswith("molformer."))
    with_head = sum(t.numel() for k, t in tensors.items() if not k.startswith("lm_head.decoder"))
    config = json.loads((TARGET / "config.json").read_text())
    vocab = json.loads((TARGET / "vocab.json").read_text())
    last = pl.read_parquet(TARGET / "training_log.parquet").row(-1, named=True)
    print(f"bundled {src} -> {TARGET}; for the model card's table:")
    print(f"  layers / hidden / heads / FFN: {config['num_hidden_layers']} / {config['hidden_size']} / "
          f"{config['num_attention_heads']} / {config['intermediate_size']}; vocabulary {len(vocab)} tokens")
    print(f"  parameters: {encoder:,} encoder, {with_head:,} with the masked-LM head (decoder not counted)")
    print(f"  weights: {(TARGET / 'model.safetensors').stat().st_size / 1e6:.1f} MB")
    print("  last log row: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                         for k, v in last.items()))
    if not (TARGET / "README.md").exists():
        print(f"note: {TARGET / 'README.md'} (the model card) is missing: write one before a release")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
