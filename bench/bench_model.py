"""Throughput of the native MoLFormer on Lipophilicity-length batches: forward and forward+backward, in
molecules/s, tokens/s and achieved GFLOP/s (analytic count), next to plain torch.matmul GFLOP/s on the model's
main GEMM shape.

    python bench/bench_model.py --quick          # about a minute on 2 CPU cores
    python bench/bench_model.py --sizes mini --batches 8

FLOPs per token of one forward pass (multiply-add = 2), over the padded tokens the model actually computes:
layers x (8 h^2 [q, k, v, attention output] + 4 h i [FFN] + 8 h M [feature maps of q and k, phi(k)^T v,
phi(q) (phi(k)^T v)]); LayerNorm, GELU, rotary and the head are left out (< 1%). Backward counts 2x forward.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import polars as pl
import torch

import molpeft_cli.model as molformer
from molpeft_cli.training.batching import collate, make_batches

LIPO_CSV = Path(__file__).resolve().parents[1] / "molpeft_cli" / "assets" / "lipophilicity.csv"


def forward_flops_per_token(config: molformer.MolformerConfig) -> int:
    h, i, m = config.hidden_size, config.intermediate_size, config.num_random_features
    return config.num_hidden_layers * (8 * h * h + 4 * h * i + 8 * h * m)


def matmul_gflops(rows: int, inner: int, cols: int, seconds: float) -> float:
    a, b = torch.randn(rows, inner), torch.randn(inner, cols)
    torch.matmul(a, b)
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.matmul(a, b)
        runs += 1
    return 2 * rows * inner * cols * runs / (time.perf_counter() - start) / 1e9


def time_batches(model, batches, pad_id: int, backward: bool, warm_up: bool) -> tuple[float, int]:
    """Seconds over all batches (after an untimed warm-up batch if asked), and padded tokens computed."""

    def step(ids: list[list[int]]) -> int:
        input_ids, mask = collate(ids, pad_id)
        if backward:
            loss = model(input_ids, mask, labels=torch.zeros(len(ids))).loss
            loss.backward()
            model.zero_grad(set_to_none=True)
        else:
            with torch.inference_mode():
                model(input_ids, mask)
        return input_ids.numel()

    if warm_up:
        step(batches[0])
    start = time.perf_counter()
    padded = sum(step(ids) for ids in batches)
    return time.perf_counter() - start, padded


def bench_size(name: str, encoded: list[list[int]], args) -> list[dict]:
    config = molformer.named_config(name)
    model = molformer.MolformerForRegression(config)
    order = make_batches([len(s) for s in encoded], args.batch_size, shuffle=True, seed=args.seed)
    full = [b for b in order if len(b) == args.batch_size]
    batches = [[encoded[i] for i in b] for b in full[: args.batches]]
    real_tokens = sum(len(s) for b in batches for s in b)
    molecules = sum(len(b) for b in batches)
    per_token = forward_flops_per_token(config)
    tokens_per_batch = real_tokens // len(batches)
    baseline = matmul_gflops(tokens_per_batch, config.hidden_size, config.hidden_size, args.matmul_seconds)
    rows = []
    for mode, backward in (("forward", False), ("forward+backward", True)):
        model.train(backward)
        # One warm-up (a forward pass) per size is enough: the backward pass reuses its kernels.
        seconds, padded = time_batches(model, batches, 2, backward, warm_up=not backward)
        flops = per_token * padded * (3 if backward else 1)
        gflops = flops / seconds / 1e9
        rows.append(
            dict(
                size=name,
                mode=mode,
                params_m=sum(p.numel() for p in model.parameters()) / 1e6,
                batches=len(batches),
                batch_size=args.batch_size,
                mean_length=real_tokens / molecules,
                seconds=seconds,
                molecules_per_s=molecules / seconds,
                tokens_per_s=real_tokens / seconds,
                gflops=gflops,
                matmul_gflops=baseline,
                ratio=gflops / baseline,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 timed batches for xl, 4 for mini")
    parser.add_argument("--sizes", default="xl,mini", help="comma-separated named sizes")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--batches", type=int, default=None, help="timed batches per size (default 8, quick 2/4)"
    )
    parser.add_argument("--matmul-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    smiles = pl.read_csv(LIPO_CSV)["smiles"].to_list()
    tokenizer = molformer.MolformerTokenizer(vocab=molformer.build_vocab(smiles))
    encoded = molformer.encode_smiles(tokenizer, smiles, truncate=True).input_ids
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}, load average {load:.1f} at start"
    )
    rows = []
    for name in args.sizes.split(","):
        batches = args.batches or ((2 if name == "xl" else 4) if args.quick else 8)
        matmul_seconds = 1.0 if args.quick else args.matmul_seconds
        settings = argparse.Namespace(**{**vars(args), "batches": batches, "matmul_seconds": matmul_seconds})
        rows += bench_size(name, encoded, settings)
    header = (
        f"{'size':<5} {'mode':<17} {'params':>7} {'batches':>7} {'len':>5} {'mol/s':>8} {'tok/s':>8} "
        f"{'GFLOP/s':>8} {'matmul':>8} {'ratio':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['size']:<5} {r['mode']:<17} {r['params_m']:>6.1f}M {r['batches']:>7} "
            f"{r['mean_length']:>5.1f} "
            f"{r['molecules_per_s']:>8.1f} {r['tokens_per_s']:>8.0f} {r['gflops']:>8.1f} "
            f"{r['matmul_gflops']:>8.1f} {r['ratio']:>6.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
