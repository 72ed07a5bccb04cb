"""GPU figures: fine-tuning throughput of the four methods (bf16), MC dropout (100 passes x 300 molecules),
influence over every adapted parameter of a LoRA model (300 pool molecules) and data-parallel training under
torchrun, all on the MoLFormer-XL architecture (random weights in the published layout: the hub is not needed).

One script, one run, on whatever device is there; the same code measures the CPU with `--cpu-budget` (smaller
sizes; full-size times are then extrapolated linearly and marked so). It needs torch, transformers, peft and numpy
and this checkout on the path, nothing else of molpeft's dependencies (no polars, RDKit or DeepChem):

    PYTHONPATH=. python tools/device/gpu_figures.py artifacts/gpu --compare bench/results/gpu_figures_cpu.json
    PYTHONPATH=. python tools/device/gpu_figures.py artifacts/cpu --cpu-budget --threads 2 --device cpu

Writes OUT/figures.json and OUT/figures.md (with `--compare`, a column for the other run and the speed-up).
Batches are real Lipophilicity SMILES (the bundled CSV, read with the csv module) tokenised with the bundled
tokenizer; labels are their z-scored logD values.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ASSETS = REPO / "molpeft_cli" / "assets"
METHODS = ("full", "bitfit", "lora", "ia3")


@dataclass(frozen=True)
class Sizes:
    """What each measurement runs; `full` are the figures the issue asks for, `cpu` fit a few CPU minutes."""

    batch: int = 64  # fine-tuning global batch (molecules)
    train_seconds: float = 10.0  # timed fine-tuning per method, after the warm-up steps
    min_steps: int = 5
    warmup_steps: int = 3
    mc_molecules: int = 300
    mc_passes: int = 100
    influence_pool: int = 300
    influence_targets: int = 420  # about Lipophilicity's validation split
    influence_depth: int = 200  # LiSSA iterations (the original study's depth)
    influence_batch: int = 64


FULL = Sizes()
CPU_BUDGET = Sizes(batch=8, train_seconds=0.0, min_steps=1, warmup_steps=1, mc_molecules=16, mc_passes=5,
                   influence_pool=4, influence_targets=8, influence_depth=2, influence_batch=8)
SMOKE = Sizes(batch=8, train_seconds=0.0, min_steps=1, warmup_steps=1, mc_molecules=8, mc_passes=3,
              influence_pool=4, influence_targets=8, influence_depth=2, influence_batch=8)  # tests, with --size tiny


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory for figures.json and figures.md")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--cpu-budget", action="store_true", help="small sizes for a CPU (a few minutes)")
    parser.add_argument("--smoke", action="store_true", help="the smallest sizes (the script's own test)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--compare", type=Path, default=None, help="figures.json of another run to put alongside")
    parser.add_argument("--skip", default="", help="comma-separated: finetune, mcdropout, influence, torchrun")
    parser.add_argument("--nproc", type=int, default=None, help="torchrun processes (default: the GPU count, "
                        "or 2 on a CPU)")
    parser.add_argument("--size", default="xl", help="named model size (xl: the published layout; tiny: tests)")
    parser.add_argument("--ddp-worker", type=Path, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# -- data and model ---------------------------------------------------------------------------------------------
def lipophilicity(n: int | None = None) -> tuple[list[str], list[float]]:
    with open(ASSETS / "lipophilicity.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows = rows[:n] if n else rows
    return [r["smiles"] for r in rows], [float(r["exp"]) for r in rows]


def token_data(n: int | None = None):
    """(input_ids lists, z-scored labels, pad id) of the first n Lipophilicity molecules."""
    from molpeft_cli.model import MolformerTokenizer, encode_smiles

    smiles, labels = lipophilicity(n)
    tokenizer = MolformerTokenizer(vocab_file=str(ASSETS / "molformer-mini" / "vocab.json"))
    encoded = encode_smiles(tokenizer, smiles, truncate=True)
    mean = sum(labels) / len(labels)
    sd = math.sqrt(sum((y - mean) ** 2 for y in labels) / len(labels)) or 1.0
    return encoded.input_ids, [(y - mean) / sd for y in labels], tokenizer.pad_token_id


def xl_regression(peft: str, seed: int = 0, size: str = "xl"):
    """MoLFormer-XL (44M encoder parameters, its 2362-token vocabulary) with the regression head, random weights,
    prepared by the project's adapter for `peft` with the original study's defaults (`size` another named size)."""
    import torch

    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.model import MolformerForRegression, named_config
    from molpeft_cli.training.checkpoint import config_overrides
    from molpeft_cli.training.options import FinetuneOptions

    options = FinetuneOptions(peft=peft).resolved().to_dict()
    torch.manual_seed(seed)
    model = MolformerForRegression(named_config(size, **config_overrides(options)))
    return REGISTRY[peft].prepare(model, options), options


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall-clock and process CPU time of a stretch of work. On a CPU the figures use CPU time / torch threads: on
    a shared machine the wall clock counts other people's work, and CPU time / threads is what an idle machine
    would take at best (so CPU figures are upper bounds on its throughput, and GPU speed-ups lower bounds)."""

    def __init__(self, device) -> None:
        self.device = device
        sync(device)
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def stop(self) -> dict:
        import torch

        sync(self.device)
        wall, cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0
        seconds = wall if self.device.type == "cuda" else cpu / torch.get_num_threads()
        return {"seconds": seconds, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def peak_gb(device) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


# -- measurements -----------------------------------------------------------------------------------------------
def train_steps(model, batches, device, sizes: Sizes, context=None) -> dict:
    """The fine-tuning step of training.regression (bf16 autocast, its loss `model.heads.regression_loss`,
    clipping at 1, AdamW over `training.optim.parameter_groups`), timed after warm-up; under torchrun each rank
    takes its share of the global batch (training.distributed)."""
    import torch

    from molpeft_cli.model.heads import regression_loss
    from molpeft_cli.training.distributed import shard_batch
    from molpeft_cli.training.optim import build_adamw

    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_adamw(model, 1e-4, 0.01)
    forward = context.wrap(model) if context is not None else model
    model.train()
    molecules = tokens = steps = 0
    clock = None
    for i, batch in enumerate(batches):
        if i == sizes.warmup_steps:
            clock = Clock(device)
        n_global = len(batch.indices)
        shard = None
        if context is not None and context.distributed:
            shard = context.shard(n_global)
            batch = shard_batch(batch, shard)
        batch = batch.to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = forward(**batch.inputs())
        if shard is not None:
            loss = context.rank_loss(regression_loss(out.logits, batch.labels, reduction="none"), shard)
        else:
            loss = regression_loss(out.logits, batch.labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        if clock is not None:
            molecules += n_global
            tokens += int(batch.attention_mask.sum()) * (context.world_size if shard is not None else 1)
            steps += 1
            if steps >= sizes.min_steps:
                sync(device)
                if time.perf_counter() - clock.wall0 >= sizes.train_seconds:
                    break
    timing = clock.stop()
    seconds = timing.pop("seconds")
    return {"steps": steps, "molecules": molecules, **timing, "molecules_per_s": round(molecules / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1), "loss": round(float(loss.detach()), 4)}


def batch_stream(input_ids, labels, batch: int, pad_id: int):
    from molpeft_cli.training.batching import iter_batches

    epoch = 0
    while True:
        epoch += 1
        yield from iter_batches(input_ids, batch, pad_id, shuffle=True, seed=epoch, labels=labels)


def measure_finetune(device, sizes: Sizes, data, size: str) -> list[dict]:
    import torch

    from molpeft_cli.adapters.base import count_parameters

    input_ids, labels, pad_id = data
    rows = []
    for peft in METHODS:
        model, _ = xl_regression(peft, size=size)
        model.to(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        result = train_steps(model, batch_stream(input_ids, labels, sizes.batch, pad_id), device, sizes)
        counts = count_parameters(model)
        rows.append({"measure": "finetune", "setting": f"{peft}, bf16, batch {sizes.batch}", "method": peft,
                     **result, "trainable_params": counts.trainable, "total_params": counts.total,
                     "peak_gpu_gb": peak_gb(device),
                     "value": result["molecules_per_s"], "unit": "molecules/s", "higher_is_better": True})
        print(f"finetune {peft}: {result['molecules_per_s']} molecules/s", file=sys.stderr, flush=True)
        del model
    return rows


def measure_mcdropout(device, sizes: Sizes, size: str) -> list[dict]:
    """selection.mc_dropout (the `mcdropout` selection's passes) on the XL regression model with the original
    study's dropouts, pool batches of 64 in length order as `molpeft select` makes them; fp32 and bf16 autocast."""
    import torch

    from molpeft_cli.selection.mc_dropout import mc_dropout_predictions

    input_ids, _, pad_id = token_data(sizes.mc_molecules)
    ordered = sorted(input_ids, key=len)  # the pool sorted by length, as `molpeft select` orders it
    batches = labelled_batches(ordered, None, pad_id, 64)
    model, _ = xl_regression("full", size=size)
    model.to(device)
    rows = []
    for bf16 in (False, True):
        def predict(m, batch, bf16=bf16):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = m(**{k: v.to(device) for k, v in batch.items() if k != "labels"})
            return out.logits.squeeze(-1).float().cpu()

        mc_dropout_predictions(model, predict, batches[:1], passes=2, seed=0)  # warm-up
        clock = Clock(device)
        _, std = mc_dropout_predictions(model, predict, batches, passes=sizes.mc_passes, seed=0)
        timing = clock.stop()
        seconds = timing.pop("seconds")
        forwards = sizes.mc_passes * len(ordered)
        full_seconds = seconds * (FULL.mc_passes * FULL.mc_molecules) / forwards
        dtype = "bf16" if bf16 else "fp32"
        rows.append({"measure": "mcdropout", "setting": f"{dtype}, {FULL.mc_passes} passes x {FULL.mc_molecules} "
                     "molecules", "method": dtype, "passes": sizes.mc_passes, "molecules": len(ordered),
                     **timing, "molecule_passes_per_s": round(forwards / seconds, 1),
                     "spread_nonzero": bool((std > 0).all()), "extrapolated": forwards != FULL.mc_passes *
                     FULL.mc_molecules, "value": round(full_seconds, 2), "unit": "s", "higher_is_better": False})
        print(f"mcdropout {dtype}: {forwards / seconds:.0f} molecule-passes/s", file=sys.stderr, flush=True)
    return rows


def labelled_batches(input_ids, labels, pad_id, batch: int) -> list[dict]:
    """Batch dicts in row order (`training.batching.batch_dicts`, as `molpeft influence` and `molpeft select` batch
    the pool), with the labels when given."""
    from molpeft_cli.training.batching import batch_dicts

    return batch_dicts(input_ids, batch, pad_id, labels=labels)


def measure_influence(device, sizes: Sizes, data, size: str) -> list[dict]:
    """The steps of influence.influence_scores over every trainable parameter of a LoRA model (adapters and
    head), timed one by one: target gradient, LiSSA (step auto, the paper profile's setting), per-sample pool
    gradients. LoRA's B starts at 0, so B gets a small random value first (a trained adapter's state)."""
    import torch

    from molpeft_cli.influence import (
        FlatObjective,
        PerSampleGrads,
        SolverConfig,
        eval_mode,
        regression_batch_loss,
        select_parameters,
    )
    from molpeft_cli.influence.solvers import solve_ihvp

    input_ids, labels, pad_id = data
    n_train = len(input_ids) - sizes.influence_pool - sizes.influence_targets
    train = labelled_batches(input_ids[:n_train], labels[:n_train], pad_id, sizes.influence_batch)
    targets = labelled_batches(input_ids[n_train:n_train + sizes.influence_targets],
                               labels[n_train:n_train + sizes.influence_targets], pad_id, 64)
    pool = labelled_batches(input_ids[-sizes.influence_pool:], labels[-sizes.influence_pool:], pad_id, 32)
    model, _ = xl_regression("lora", size=size)
    with torch.no_grad():
        generator = torch.Generator().manual_seed(1)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.01)
    model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    names = [name for name, _ in select_parameters(model, "trainable")]
    # step auto costs 20 power-iteration HVPs first; small budgets take a fixed step and count those HVPs below
    auto = sizes == FULL
    # (a step far below 1/curvature: a timing run must not stop as diverged on random weights)
    solver = SolverConfig(solver="lissa", depth=sizes.influence_depth, step=None if auto else 1e-4, damping=0.01)
    with eval_mode(model):
        objective = FlatObjective(model, regression_batch_loss, names)
        clock = Clock(device)
        target_grad = objective.mean_grad(targets)
        target_time, clock = clock.stop(), Clock(device)
        ihvp = solve_ihvp(objective, train, target_grad, solver)
        lissa_time, clock = clock.stop(), Clock(device)
        per_sample = PerSampleGrads(objective)
        scores = [per_sample(batch) @ ihvp.solution for batch in pool]
        pool_time = clock.stop()
    times = {"target_grad_s": target_time["seconds"], "lissa_s": lissa_time["seconds"],
             "pool_grads_s": pool_time["seconds"]}
    wall = sum(t["wall_s"] for t in (target_time, lissa_time, pool_time))
    n_pool = sum(len(s) for s in scores)
    # LiSSA with step auto: 20 power-iteration HVPs, then `depth` HVPs (one training minibatch each); target and
    # per-sample gradients are linear in their molecules
    hvps = sizes.influence_depth + (20 if auto else 0)
    full_seconds = (times["target_grad_s"] * FULL.influence_targets / sizes.influence_targets
                    + times["lissa_s"] * (FULL.influence_depth + 20) / hvps
                    * (FULL.influence_batch / sizes.influence_batch)
                    + times["pool_grads_s"] * FULL.influence_pool / n_pool)
    extrapolated = sizes != FULL
    row = {"measure": "influence", "setting": f"LoRA, all {objective.n_params:,} trainable parameters, LiSSA depth "
           f"{FULL.influence_depth}, {FULL.influence_pool} pool molecules", "method": "lora-trainable",
           "params": objective.n_params, "pool": n_pool, "depth": sizes.influence_depth,
           **{k: round(v, 3) for k, v in times.items()}, "wall_s": round(wall, 3),
           "lissa_converged": bool(ihvp.converged),
           "scores_finite": bool(all(torch.isfinite(s).all() for s in scores)), "peak_gpu_gb": peak_gb(device),
           "extrapolated": extrapolated, "value": round(full_seconds if extrapolated else sum(times.values()), 2),
           "unit": "s", "higher_is_better": False}
    print(f"influence: {row['value']} s ({'extrapolated' if extrapolated else 'measured'})", file=sys.stderr)
    return [row]


def measure_torchrun(device, sizes: Sizes, nproc: int, threads: int | None, out: Path, size: str) -> list[dict]:
    """Full fine-tuning (bf16) under `torchrun --nproc-per-node N` with the global batch of the single-process
    figure: the project's DDP path (training.distributed)."""
    result_path = out / "torchrun_worker.json"
    result_path.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
               __file__, str(out), "--ddp-worker", str(result_path), "--device", device.type, "--size", size]
    if threads:
        command += ["--threads", str(threads)]
    if sizes != FULL:
        command.append("--smoke" if sizes == SMOKE else "--cpu-budget")
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 or not result_path.exists():
        print(done.stderr[-3000:], file=sys.stderr)
        last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise RuntimeError(f"torchrun with {nproc} processes failed: {last}")
    result = json.loads(result_path.read_text())
    result_path.unlink()
    result["wall_with_startup_s"] = round(time.perf_counter() - started, 1)
    print(f"torchrun x{nproc}: {result['molecules_per_s']} molecules/s", file=sys.stderr, flush=True)
    return [{"measure": "torchrun", "setting": f"full, bf16, global batch {sizes.batch}, {nproc} processes "
             f"({result['backend']})", "method": f"ddp-{nproc}", **result, "value": result["molecules_per_s"],
             "unit": "molecules/s", "higher_is_better": True}]


def ddp_worker(args: argparse.Namespace, sizes: Sizes) -> None:
    import torch

    from molpeft_cli.training.distributed import launch_context, shutdown

    context = launch_context(args.device)  # cpu or cuda, resolved by the parent
    device = torch.device(context.device)
    model, _ = xl_regression("full", size=args.size)
    model.to(device)
    input_ids, labels, pad_id = token_data()
    result = train_steps(model, batch_stream(input_ids, labels, sizes.batch, pad_id), device, sizes, context)
    if context.is_main:
        payload = {**result, "world_size": context.world_size, "backend": context.backend or "none",
                   "peak_gpu_gb_rank0": peak_gb(device)}
        args.ddp_worker.write_text(json.dumps(payload))
    shutdown()


# -- report -----------------------------------------------------------------------------------------------------
def environment(device) -> dict:
    import numpy
    import peft
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
           "peft": peft.__version__, "numpy": numpy.__version__, "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device.type,
           "load_average": [round(x, 1) for x in os.getloadavg()]}
    if device.type == "cuda":
        env.update(gpu=torch.cuda.get_device_name(device), gpu_count=torch.cuda.device_count(),
                   cuda=torch.version.cuda)
    return env


def label(run: dict) -> str:
    env = run["environment"]
    return env.get("gpu") or f"CPU ({env['torch_threads']} threads)"


def render_markdown(run: dict, other: dict | None) -> str:
    lines = [f"# molpeft GPU figures: {label(run)}", "",
             f"MoLFormer `{run['model_size']}` architecture, random weights; torch {run['environment']['torch']}, "
             f"transformers {run['environment']['transformers']}; {run['seconds']:.0f} s in all. "
             "`~` marks a time extrapolated linearly from smaller sizes. CPU figures use process CPU time / torch "
             "threads (the wall clock of a shared machine counts others' work; both are in figures.json), so they "
             "are upper bounds on an idle CPU's throughput.", ""]
    header = ["measurement", "setting", label(run)]
    if other:
        header += [label(other), "ratio"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    others = {(r["measure"], r["method"]): r for r in (other or {}).get("results", [])}
    for row in run["results"]:
        cells = [row["measure"], row["setting"], _value(row)]
        if other:
            match = others.get((row["measure"], row["method"]))
            if row["measure"] == "torchrun" and match is None:
                match = next((r for r in others.values() if r["measure"] == "torchrun"), None)
            cells += [_value(match) if match else "–", _ratio(row, match)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _value(row: dict | None) -> str:
    if row is None or row.get("value") is None:
        return "failed" if row else "–"
    mark = "~" if row.get("extrapolated") else ""
    return f"{mark}{row['value']:,} {row['unit']}"


def _ratio(row: dict, match: dict | None) -> str:
    if not match or not row.get("value") or not match.get("value"):
        return "–"
    ratio = row["value"] / match["value"] if row["higher_is_better"] else match["value"] / row["value"]
    return f"{ratio:,.1f}x"


def import_dependencies() -> list[str]:
    """Import every module the measurements use (what the GPU machine must provide); returns their names."""
    import importlib

    names = ["torch", "transformers", "peft", "numpy", "molpeft_cli.model", "molpeft_cli.adapters",
             "molpeft_cli.model.heads", "molpeft_cli.training.batching", "molpeft_cli.training.checkpoint",
             "molpeft_cli.training.optim", "molpeft_cli.training.options",
             "molpeft_cli.training.distributed", "molpeft_cli.selection.mc_dropout", "molpeft_cli.influence",
             "molpeft_cli.influence.solvers"]
    for name in names:
        importlib.import_module(name)
    return names


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else CPU_BUDGET if args.cpu_budget else FULL
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.ddp_worker is not None:
        ddp_worker(args, sizes)
        return 0
    device_name = args.device
    if device_name == "auto":
        device_name = "cuda" if torch.cuda.is_available() else "cpu"
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda, but CUDA is not available here", file=sys.stderr)
        return 2
    device = torch.device(device_name)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    other = None
    if args.compare is not None:  # read it now: a wrong path should not cost a whole GPU run
        other = json.loads(args.compare.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = token_data()
    nproc = args.nproc or (torch.cuda.device_count() if device.type == "cuda" else 2)
    threads = args.threads if device.type == "cuda" else max(1, (args.threads or nproc) // nproc)
    measurements = {
        "finetune": lambda: measure_finetune(device, sizes, data, args.size),
        "mcdropout": lambda: measure_mcdropout(device, sizes, args.size),
        "influence": lambda: measure_influence(device, sizes, data, args.size),
        "torchrun": lambda: measure_torchrun(device, sizes, nproc, threads, args.out, args.size),
    }
    budget = "smoke" if args.smoke else "cpu" if args.cpu_budget else "full"
    run = {"environment": environment(device), "model_size": args.size, "sizes": asdict(sizes), "budget": budget,
           "seconds": 0.0, "results": []}
    failed = False
    for name, measure in measurements.items():
        if name in skip:
            continue
        try:
            run["results"] += measure()
        except Exception as exc:  # the run is one shot on a lent GPU: a failure must not cost the other figures
            import traceback

            traceback.print_exc()
            failed = True
            run["results"].append({"measure": name, "method": "error", "setting": f"failed: {type(exc).__name__}",
                                   "error": f"{type(exc).__name__}: {exc}", "value": None, "unit": "",
                                   "higher_is_better": True})
        if device.type == "cuda":
            torch.cuda.empty_cache()
        run["seconds"] = round(time.perf_counter() - started, 1)
        (args.out / "figures.json").write_text(json.dumps(run, indent=1) + "\n")  # what is done so far
    (args.out / "figures.md").write_text(render_markdown(run, other))
    print((args.out / "figures.md").read_text())
    return 1 if failed else 0

if __name__ == "__main__":
    sys.exit(main())
