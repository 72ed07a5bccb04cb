"""Is `torch.compile` worth it for fine-tuning molformer-mini on a CPU? Times training steps (forward, backward,
AdamW) of the bundled model on Lipophilicity batches, eager and compiled (`dynamic=True`: batches differ in length),
in alternating rounds so that both see the same machine load, and prints the compile time and the ratio of the
median step times. Also checks that both give the same loss on the same batch (to float32 rounding).

    python bench/bench_compile.py                  # 3 rounds of 10 steps each way, batch 64
    python bench/bench_compile.py --rounds 5 --steps 20 --threads 2
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import polars as pl
import torch

from molpeft_cli.model.loading import load_pretrained
from molpeft_cli.training.batching import iter_batches
from molpeft_cli.training.optim import build_adamw
from molpeft_cli.training.regression import encode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="training steps per round and mode")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default="molformer-mini")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from molpeft_cli.data.registry import resolve_source

    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    torch.manual_seed(0)
    loaded = load_pretrained(args.model, "regression")
    enc = encode(loaded.tokenizer, smiles, truncate=True)
    labels = [0.0] * len(smiles)
    batches = list(iter_batches(enc.input_ids, args.batch_size, loaded.tokenizer.pad_token_id, shuffle=True,
                                seed=0, labels=labels))
    eager = loaded.model.train()
    compiled_model = copy.deepcopy(eager)
    compiled = torch.compile(compiled_model, dynamic=True)
    optimizers = {"eager": build_adamw(eager, 1e-5, 0.01), "compiled": build_adamw(compiled_model, 1e-5, 0.01)}
    models = {"eager": eager, "compiled": compiled}

    def step(mode: str, batch) -> float:
        optimizer = optimizers[mode]
        optimizer.zero_grad(set_to_none=True)
        loss = models[mode](**batch.inputs(), labels=batch.labels).loss
        loss.backward()
        optimizer.step()
        return loss.item()

    # the same loss on the same batch, in eval mode (no dropout), before any update
    probe = batches[0]
    with torch.no_grad():
        eager.eval()
        compiled_model.eval()
        started = time.perf_counter()
        same = (float(eager(**probe.inputs(), labels=probe.labels).loss),
                float(compiled(**probe.inputs(), labels=probe.labels).loss))
        first_compile = time.perf_counter() - started
        eager.train()
        compiled_model.train()
    started = time.perf_counter()
    step("compiled", batches[1])  # the training graph's compile
    first_compile += time.perf_counter() - started
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for r in range(args.rounds):
        chosen = [batches[(2 + r * args.steps + i) % len(batches)] for i in range(args.steps)]
        for mode in ("eager", "compiled"):  # the same batches both ways
            for batch in chosen:
                started = time.perf_counter()
                step(mode, batch)
                times[mode].append(time.perf_counter() - started)
    median = {mode: statistics.median(values) for mode, values in times.items()}
    result = {"model": args.model, "threads": args.threads, "batch_size": args.batch_size,
              "steps_per_mode": len(times["eager"]), "compile_seconds": round(first_compile, 1),
              "eager_step_s": round(median["eager"], 4), "compiled_step_s": round(median["compiled"], 4),
              "speedup": round(median["eager"] / median["compiled"], 3),
              "loss_eager": same[0], "loss_compiled": same[1], "torch": torch.__version__}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
