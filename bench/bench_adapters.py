"""Per fine-tuning method: training throughput (molecules/s), peak memory and trainable parameters, for the
`mini` and `xl` configs on this machine's CPU. Each case runs in its own process so peak RSS is its own; the cases
run back to back in one invocation, so compare them with each other rather than with other runs.

    python bench/bench_adapters.py            # mini and xl, 4 methods, a few steps each
    python bench/bench_adapters.py --quick    # fewer steps
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

METHODS = ("full", "bitfit", "lora", "ia3")


def run_case(size: str, method: str, steps: int, batch: int) -> dict:
    import resource
    import time

    import polars as pl
    import torch

    import molpeft_cli.model as M
    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.adapters.base import count_parameters
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.training.batching import iter_batches
    from molpeft_cli.training.optim import build_adamw
    from molpeft_cli.training.options import FinetuneOptions

    torch.manual_seed(0)
    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    vocab = M.build_vocab(smiles)
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "vocab.json"
    path.write_text(json.dumps(vocab))
    tok = M.MolformerTokenizer(vocab_file=str(path), model_max_length=256)
    enc = M.encode_smiles(tok, smiles, truncate=True, max_length=256)
    config = M.named_config(size, vocab_size=len(tok.vocab), max_position_embeddings=256)
    model = REGISTRY[method].prepare(M.MolformerForRegression(config),
                                     FinetuneOptions(peft=method).resolved().to_dict()).train()
    counts = count_parameters(model)
    opt = build_adamw(model, 1e-4, 0.01)  # fine-tuning's optimizer (its parameter groups)
    batches = iter(iter_batches(enc.input_ids, batch, tok.pad_token_id, shuffle=True, seed=0,
                                labels=[0.0] * len(enc.input_ids)))
    done = 0
    start = None
    for step in range(steps + 1):
        b = next(batches)
        if step == 1:  # the first step warms up allocators
            start, done = time.perf_counter(), 0
        opt.zero_grad()
        out = model(input_ids=b.input_ids, attention_mask=b.attention_mask)
        torch.nn.functional.mse_loss(out.logits.squeeze(-1), b.labels).backward()
        opt.step()
        done += len(b.indices)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"size": size, "method": method, "trainable": counts.trainable, "total": counts.total,
            "mol_per_s": done / seconds, "peak_rss_mb": peak_mb, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", nargs="+", default=["mini", "xl"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], args.case[1], args.steps, args.batch)))
        return
    rows = []
    for size in args.sizes:
        steps = args.steps or ((3 if args.quick else 8) if size == "xl" else (5 if args.quick else 15))
        for method in METHODS:
            proc = subprocess.run([sys.executable, __file__, "--case", size, method, "--steps", str(steps),
                                   "--batch", str(args.batch)], capture_output=True, text=True, check=True)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"{size:5s} {method:7s} trainable {r['trainable']:>11,} / {r['total']:>11,} "
                  f"({100 * r['trainable'] / r['total']:7.3f}%)  {r['mol_per_s']:8.1f} mol/s  "
                  f"peak RSS {r['peak_rss_mb']:7.0f} MB", flush=True)
    for size in args.sizes:
        full = next(r for r in rows if r["size"] == size and r["method"] == "full")
        ratios = ", ".join(f"{r['method']} {r['mol_per_s'] / full['mol_per_s']:.2f}x" for r in rows
                           if r["size"] == size)
        print(f"{size}: throughput relative to full fine-tuning (same run): {ratios}")


if __name__ == "__main__":
    main()
