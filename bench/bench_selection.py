"""Wall time of influence scores (each solver) and of MC dropout for a 300-molecule pool, at `mini` and `xl` size,
on this CPU. Models are freshly initialised (timing does not depend on the weights); the data are the bundled
Lipophilicity molecules (train split for the Hessian, 420 for the target, 300 for the pool).

    python bench/bench_selection.py --quick     # fewer LiSSA iterations / dropout passes, extrapolated
    python bench/bench_selection.py             # the seed's settings (depth 200, 100 passes): slow at xl size

Extrapolated figures (marked "~") scale the measured time per iteration or per pass linearly.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def setup(size: str):
    import polars as pl
    import torch

    import molpeft_cli.model as M
    from molpeft_cli.adapters import REGISTRY
    from molpeft_cli.data.registry import resolve_source

    torch.manual_seed(0)
    raw = pl.read_csv(resolve_source("lipophilicity").path)
    vocab_path = Path(tempfile.mkdtemp()) / "vocab.json"
    vocab_path.write_text(json.dumps(M.build_vocab(raw["smiles"].to_list())))
    tok = M.MolformerTokenizer(vocab_file=str(vocab_path), model_max_length=256)
    config = M.named_config(size, vocab_size=len(tok.vocab), max_position_embeddings=256)
    model = REGISTRY["full"].prepare(M.MolformerForRegression(config), {}).eval()
    table = raw.rename({"smiles": "smiles_canonical", "exp": "label", "CMPD_CHEMBLID": "mol_id"})
    return model, tok, table.slice(0, 3360), table.slice(3360, 420), table.slice(3780, 300)


def bench(size: str, depth: int, passes: int, scopes: list[str], solvers: list[str]) -> list[dict]:
    import torch

    from molpeft_cli.influence import influence_scores
    from molpeft_cli.influence.job import labelled_batches, regression_loss
    from molpeft_cli.influence.solvers import SolverConfig
    from molpeft_cli.selection import mc_dropout_predictions

    model, tok, train, target, pool = setup(size)
    rows = []

    def batches(table, shuffle):
        return labelled_batches(tok, table, 2.186, 1.203, 32, True, shuffle, 0, "bench")

    tr, tg, pl_ = batches(train, True), batches(target, False), batches(pool, False)
    for scope in scopes:
        for solver, cfg in (("lissa", SolverConfig(solver="lissa", depth=depth, damping=0.01, step=0.04)),
                            ("lissa-auto", SolverConfig(solver="lissa", depth=depth, damping=0.01, step=None)),
                            ("cg", SolverConfig(solver="cg", cg_max_iter=max(2, depth // 20), damping=1.0)),
                            ("exact", SolverConfig(solver="exact", damping=0.01))):
            if solver not in solvers or (solver == "exact" and scope != "head"):
                continue
            if solver == "cg" and (size == "xl" or scope != "head"):
                continue  # each CG iteration sweeps the whole training split: minutes per iteration at xl
            start = time.perf_counter()
            try:
                result = influence_scores(model, regression_loss, tr, tg, pl_, scope=scope, solver=cfg)
                seconds = time.perf_counter() - start
                rows.append({"size": size, "what": f"influence {solver} ({scope}, {result.n_params:,} params)",
                             "seconds": seconds, "iterations": result.ihvp.iterations})
            except Exception as exc:  # report, keep benchmarking the rest
                rows.append({"size": size, "what": f"influence {solver} ({scope})", "error": str(exc)[:80]})
    predict = lambda m, b: m(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.squeeze(-1)  # noqa: E731
    pool_batches = [{k: v for k, v in b.items() if k != "labels"} for b in pl_]
    start = time.perf_counter()
    with torch.no_grad():
        mc_dropout_predictions(model, predict, pool_batches, passes=passes, seed=0)
    seconds = time.perf_counter() - start
    rows.append({"size": size, "what": f"mcdropout ({passes} passes x 300)", "seconds": seconds,
                 "per_pass": seconds / passes})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", nargs="+", default=["mini", "xl"])
    parser.add_argument("--solvers", nargs="+", default=["lissa", "lissa-auto", "cg", "exact"])
    parser.add_argument("--scopes", nargs="+", default=["head", "last-1"])
    args = parser.parse_args()
    for size in args.sizes:
        depth = (20 if args.quick else 200) if size == "mini" else (5 if args.quick else 200)
        passes = (10 if args.quick else 100) if size == "mini" else (2 if args.quick else 100)
        for row in bench(size, depth, passes, args.scopes, args.solvers):
            if "error" in row:
                print(f"{size:5s} {row['what']:55s} error: {row['error']}")
                continue
            line = f"{size:5s} {row['what']:55s} {row['seconds']:8.1f} s"
            if "per_pass" in row and passes != 100:
                line += f"   (~{row['per_pass'] * 100:.0f} s for 100 passes)"
            if "influence lissa" in row["what"] and depth != 200:
                line += f"   ({row['iterations']} iterations; LiSSA time grows linearly with depth)"
            print(line, flush=True)


if __name__ == "__main__":
    main()
