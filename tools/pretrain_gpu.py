"""Continue pretraining the bundled `molformer-mini` on a GPU (or the CPU) within a wall-clock budget, resumably.

The corpus is the output of `tools/build_pretraining_corpus.py` (corpus.smi.gz + descriptors.npz), so this script
needs neither RDKit nor polars (GPU machines may lack both). It starts from the bundled weights (same vocabulary),
with the MLM + RDKit-descriptor objective, AdamW, warmup + cosine decay. The schedule's length is fixed on the first
call from a short throughput probe (`plan.json` in the run directory), so a run cut by its time budget continues
exactly with `--resume` on a later call (the same GPU kind keeps the same plan).

Writes the run directory (a `molpeft mlm` checkpoint with trainer_state/ for resuming) and, with `--export DIR`,
the files that travel back: the best weights as float16 safetensors plus config/vocab/log (`final/`), the weights at
1/3 and 2/3 of the planned steps (`step-N/`, for the steps ablation) and a summary.json.

Usage: python tools/pretrain_gpu.py CORPUS_DIR RUN_DIR --minutes 5 [--device cuda] [--export DIR]
       [--init DIR|NAME|scratch:SIZE]
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_corpus(corpus_dir: Path) -> tuple[list[str], np.ndarray]:
    from molpeft_cli.chem.descriptors import DESCRIPTORS
    from molpeft_cli.training.corpus import read_smiles_file

    smiles, _ = read_smiles_file(corpus_dir / "corpus.smi.gz")
    packed = np.load(corpus_dir / "descriptors.npz")
    values = np.full((len(smiles), len(DESCRIPTORS)), np.nan, dtype=np.float64)
    values[packed["rows"]] = packed["values"].astype(np.float64)
    return smiles, values


def _encode_chunk(payload: tuple[str, list[str]]):
    from molpeft_cli.model import encode_smiles
    from molpeft_cli.model.loading import load_tokenizer

    vocab_dir, chunk = payload
    return encode_smiles(load_tokenizer(vocab_dir), chunk, truncate=True)


def encode_parallel(smiles: list[str], vocab_dir: str, workers: int):
    """encode_smiles over worker processes (1.6M SMILES take about a minute on one core)."""
    import multiprocessing
    from collections import Counter

    from molpeft_cli.model.encoding import EncodedSmiles

    size = max(1, len(smiles) // (workers * 4) + 1)
    chunks = [(vocab_dir, smiles[i : i + size]) for i in range(0, len(smiles), size)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.map(_encode_chunk, chunks)
    merged = EncodedSmiles([], [], [], parts[0].max_length, Counter())
    offset = 0
    for part in parts:
        merged.input_ids += part.input_ids
        merged.unknown_counts += part.unknown_counts
        merged.truncated += [offset + i for i in part.truncated]
        merged.unknown_tokens.update(part.unknown_tokens)
        offset += len(part.input_ids)
    return merged


def export_weights(model, tokenizer, directory: Path) -> None:
    """A loadable checkpoint directory with float16 weights (what the package bundles)."""
    from safetensors.torch import save_file

    from molpeft_cli.model.loading import save_checkpoint

    save_checkpoint(model, tokenizer, directory)
    state = {k: v.detach().to("cpu", dtype=torch_float16()).contiguous() for k, v in model.state_dict().items()}
    save_file(state, directory / "model.safetensors", metadata={"format": "pt"})


def starting_point(init: str, seed: int):
    """The model and tokenizer to start from: a bundled name or checkpoint directory, or `scratch:SIZE`, a fresh
    model of a named size (seeded) with the bundled model's vocabulary and every other config field (positions,
    dropouts), so that a model-size ablation changes the size alone."""
    from types import SimpleNamespace

    import torch

    from molpeft_cli.model import NAMED_SIZES, MolformerForMaskedLM, named_config
    from molpeft_cli.model.loading import load_pretrained

    if not init.startswith("scratch:"):
        return load_pretrained(init, "mlm")
    size = init.split(":", 1)[1]
    named_config(size)  # a clear error for an unknown size
    bundle = load_pretrained("molformer-mini", "mlm")
    config = copy.deepcopy(bundle.model.config)
    for field, value in NAMED_SIZES[size].items():
        setattr(config, field, value)
    torch.manual_seed(seed)
    return SimpleNamespace(model=MolformerForMaskedLM(config), tokenizer=bundle.tokenizer)


def torch_float16():
    import torch

    return torch.float16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("run", type=Path)
    parser.add_argument("--minutes", type=float, required=True, help="Training budget of this call.")
    parser.add_argument("--planned-minutes", type=float, default=None,
                        help="Length of the whole schedule in minutes of this device (default: --minutes).")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=4e-4)
    parser.add_argument("--descriptor-weight", type=float, default=0.5)
    parser.add_argument("--holdout", type=int, default=5000)
    parser.add_argument("--probe-steps", type=int, default=40)
    parser.add_argument("--max-steps", type=int, default=None, help="Skip the probe and plan this many steps.")
    parser.add_argument("--export", type=Path, default=None)
    parser.add_argument("--fp32", action="store_true", help="No bf16 autocast (CPUs without AVX512-BF16/AMX).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", default="molformer-mini",
                        help="Weights to start from: a bundled name or a checkpoint directory (same vocabulary), "
                             "e.g. the stage-1 MOSES-only weights for an ablation of the continued pretraining; or "
                             "scratch:SIZE (tiny, mini, small, xl), a fresh model of that size with the bundled "
                             "vocabulary, seeded by --seed.")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    started = time.monotonic()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from molpeft_cli.training.mlm import MLMTrainer, prepare_mlm_data
    from molpeft_cli.training.mlm_config import MLMConfig
    from molpeft_cli.training.mlm_state import has_saved_run, load_saved_model, read_run

    smiles, values = load_corpus(args.corpus)
    print(f"corpus: {len(smiles):,} SMILES, {int(np.isfinite(values).all(axis=1).sum()):,} with descriptors "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    plan_file = args.run.with_name(args.run.name + ".plan.json")
    if has_saved_run(args.run) and plan_file.is_file():
        plan = json.loads(plan_file.read_text())
    else:
        plan = None

    def config_for(max_steps: int | None, minutes: float | None) -> MLMConfig:
        eval_every = max(50, (max_steps or 1000) // 12)
        return MLMConfig(lr=args.lr, batch_size=args.batch_size, epochs=1000, max_steps=max_steps,
                         eval_every=eval_every, save_every=max(eval_every, (max_steps or 1000) // 4), patience=0,
                         holdout=args.holdout, warmup=0.04, schedule="cosine", descriptor_weight=args.descriptor_weight,
                         bf16=not args.fp32, seed=args.seed, max_minutes=minutes)

    base = starting_point(args.init, args.seed)
    import os

    workers = min(16, os.cpu_count() or 1)
    encoded = encode_parallel(smiles, str(ROOT / "molpeft_cli" / "assets" / "molformer-mini"), workers) \
        if workers > 1 else None
    data = prepare_mlm_data(smiles, base.tokenizer, config_for(None, None), descriptor_values=values,
                            encoded=encoded)
    print(f"encoded: {data.summary['train_molecules']:,} train, {data.summary['heldout_molecules']:,} held out "
          f"({time.monotonic() - started:.0f} s)", flush=True)

    if plan is None:
        if args.max_steps:
            steps_per_s = None
            max_steps = args.max_steps
        else:
            probe_model = copy.deepcopy(base.model)
            with tempfile.TemporaryDirectory() as tmp:
                probe = MLMTrainer(probe_model, base.tokenizer, data, config_for(10**6, None), Path(tmp) / "probe",
                                   device=args.device)
                batches = probe.epoch_batches(0)
                for i in range(5):
                    probe.train_step(batches[i])
                if probe.device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.monotonic()
                for i in range(5, 5 + args.probe_steps):
                    probe.train_step(batches[i])
                if probe.device.type == "cuda":
                    torch.cuda.synchronize()
                steps_per_s = args.probe_steps / (time.monotonic() - t0)
            del probe_model, probe
            planned = (args.planned_minutes or args.minutes) * 60
            max_steps = max(1, int(steps_per_s * planned * 0.88))  # evaluations and saves take the rest
        plan = {"max_steps": max_steps, "probe_steps_per_second": steps_per_s, "init": args.init,
                "batch_size": args.batch_size,
                "lr": args.lr, "descriptor_weight": args.descriptor_weight, "device": args.device,
                "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
        print(f"plan: {json.dumps(plan)}", flush=True)
        saved = None
        model, tokenizer = base.model, base.tokenizer
    else:
        saved = read_run(args.run)
        model, tokenizer = load_saved_model(args.run)
        print(f"resuming at step {saved.state.step} of {plan['max_steps']}", flush=True)
    config = config_for(plan["max_steps"], args.minutes + (time.monotonic() - started) / 60)
    checkpoints = sorted({plan["max_steps"] // 3, 2 * plan["max_steps"] // 3})

    trainer_box: dict = {}

    def on_step(step: int) -> None:
        if args.export is not None and step in checkpoints:
            export_weights(trainer_box["t"].model, tokenizer, args.export / f"step-{step}")

    trainer = MLMTrainer(model, tokenizer, data, config, args.run, saved=saved, clock_start=started, on_step=on_step,
                         device=args.device, data_info={"corpus": str(args.corpus), "kind": "smiles file",
                                                         "encoding": {k: v for k, v in data.summary.items()
                                                                      if k != "unknown_token_counts"}})
    trainer_box["t"] = trainer
    args.run.parent.mkdir(parents=True, exist_ok=True)
    plan_file.write_text(json.dumps(plan, indent=1) + "\n")
    state = trainer.train()
    summary = {"steps": state.step, "planned_steps": plan["max_steps"], "finished": state.finished,
               "stop_reason": state.stop_reason, "best_heldout_loss": state.best_loss, "best_step": state.best_step,
               "molecules_seen": state.step * args.batch_size, "training_seconds": state.seconds,
               "wall_seconds": time.monotonic() - started, "plan": plan,
               "last_eval": state.log[-1] if state.log else None}
    print(json.dumps(summary, indent=1), flush=True)
    if args.export is not None:
        from safetensors.torch import load_file

        from molpeft_cli.model import MolformerForMaskedLM
        from molpeft_cli.model.loading import read_config
        from molpeft_cli.training.mlm_state import saved_run_dir

        source = saved_run_dir(args.run)  # the finished output (best weights), else the resumable save
        final = MolformerForMaskedLM(read_config(source))
        final.load_state_dict(load_file(source / "model.safetensors"), strict=True)
        export_weights(final, tokenizer, args.export / "final")
        for name in ("training_log.parquet", "descriptor_head.safetensors", "descriptor_head.json"):
            if (source / name).exists():
                shutil.copy(source / name, args.export / "final" / name)
        shutil.copy(plan_file, args.export / "final" / "plan.json")
        (args.export / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
