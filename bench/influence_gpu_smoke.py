"""Smoke-check and time `regression_influence` (projected, every LoRA parameter) on any device, with no polars or
RDKit: a MoLFormer regression model of the bundled size (or --size xl-like), random token batches.
  python bench/influence_gpu_smoke.py [--device cuda] [--hidden 384 --layers 4] [--train 3120 --pool 300]"""

from __future__ import annotations

import argparse
import sys
import time

for blocked in ("polars", "rdkit"):  # prove the scoring path needs neither
    sys.modules[blocked] = None

import torch  # noqa: E402

from molpeft_cli.adapters import REGISTRY  # noqa: E402
from molpeft_cli.influence import SolverConfig, regression_influence  # noqa: E402
from molpeft_cli.model import MolformerConfig, MolformerForRegression  # noqa: E402
from molpeft_cli.training.options import FinetuneOptions  # noqa: E402


def batches(n: int, size: int, vocab: int, gen: torch.Generator, device: str) -> list[dict]:
    out = []
    for start in range(0, n, size):
        rows = min(size, n - start)
        lengths = torch.randint(20, 70, (rows,), generator=gen)
        ids = torch.randint(4, vocab, (rows, int(lengths.max())), generator=gen)
        mask = (torch.arange(ids.shape[1]) < lengths[:, None]).long()
        out.append({"input_ids": (ids * mask).to(device), "attention_mask": mask.to(device),
                    "labels": torch.randn(rows, generator=gen).to(device)})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--train", type=int, default=3120)
    parser.add_argument("--pool", type=int, default=300)
    parser.add_argument("--proj-dim", type=int, default=2048)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = MolformerConfig(vocab_size=55, hidden_size=args.hidden, num_hidden_layers=args.layers,
                             num_attention_heads=args.heads, intermediate_size=2 * args.hidden,
                             max_position_embeddings=202)
    options = FinetuneOptions(peft="lora").resolved().to_dict()
    model = REGISTRY["lora"].prepare(MolformerForRegression(config), options)
    model.to(args.device)
    gen = torch.Generator().manual_seed(1)
    train, valid, pool = (batches(n, 32, 55, gen, args.device) for n in (args.train, 390, args.pool))
    started, cpu = time.perf_counter(), time.process_time()
    result = regression_influence(model, train, valid, pool, solver=SolverConfig(solver="projected",
                                                                                   proj_dim=args.proj_dim))
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    print(f"{args.device}: {result.n_params:,} parameters, {len(result.scores)} pool scores, finite "
          f"{bool(torch.isfinite(torch.as_tensor(result.scores)).all())}; wall {time.perf_counter() - started:.1f} s,"
          f" cpu {time.process_time() - cpu:.1f} s; {result.summary()['ihvp']['proj_dim']:.0f} dims")


if __name__ == "__main__":
    main()
