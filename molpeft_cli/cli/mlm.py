"""`molpeft mlm`: stage-1 masked-language-model training of MoLFormer on SMILES (a table's train split, or a SMILES
file), optionally with the RDKit-descriptor objective; writes a checkpoint directory that `finetune` can load."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SIZES = ("tiny", "mini", "xl")


def mlm(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="Molecule table (parquet/CSV) or a SMILES file "
                                         "(one per line, .gz allowed).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Checkpoint directory to write.")],
    model: Annotated[str, typer.Option(help="Bundled model name, checkpoint directory or hub id.")] = "molformer-mini",
    from_scratch: Annotated[bool, typer.Option("--from-scratch", help="Build a vocabulary from the corpus and a "
                                               "fresh model of size --config.")] = False,
    config: Annotated[str | None, typer.Option("--config", help=f"Model size with --from-scratch: "
                                               f"{', '.join(SIZES)}.")] = None,
    vocab_extra: Annotated[list[str] | None, typer.Option("--vocab-extra", help="With --from-scratch: more SMILES "
                           "(file or table; all rows, labels unused) whose tokens join the vocabulary but that are "
                           "not trained on. Repeatable.")] = None,
    splits: Annotated[str, typer.Option(help="Table splits to train on, comma-separated (valid/test are never "
                                        "used unless named here).")] = "train",
    epochs: Annotated[int, typer.Option(help="Passes over the training SMILES at most.")] = 10,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps at most (also the schedule's length).")
                         ] = None,
    batch_size: Annotated[int, typer.Option(help="Molecules per step.")] = 64,
    lr: Annotated[float, typer.Option(help="AdamW peak learning rate.")] = 1e-4,
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay (not on biases/norms).")] = 0.01,
    warmup: Annotated[float, typer.Option(help="Warmup: fraction of the steps (<1) or steps (>=1).")] = 0.05,
    schedule: Annotated[str, typer.Option(help="Decay after warmup: cosine, linear or constant.")] = "cosine",
    max_grad_norm: Annotated[float, typer.Option(help="Gradient clipping norm (0: off).")] = 1.0,
    mask_prob: Annotated[float, typer.Option(help="Fraction of tokens chosen for prediction.")] = 0.15,
    mask_token_frac: Annotated[float, typer.Option(help="Of the chosen tokens, the fraction replaced by <mask>.")
                               ] = 0.8,
    random_token_frac: Annotated[float, typer.Option(help="Of the chosen tokens, the fraction replaced by a random "
                                                     "token (the rest are kept).")] = 0.1,
    holdout: Annotated[float, typer.Option(help="Held-out part for early stopping: fraction (<1) or count (>=1).")
                       ] = 0.05,
    eval_every: Annotated[int, typer.Option(help="Evaluate the held-out loss every N steps (0: each epoch).")] = 0,
    patience: Annotated[int, typer.Option(help="Early stopping: evaluations without improvement (0: off).")] = 2,
    save_every: Annotated[int, typer.Option(help="Save resumable state every N steps.")] = 500,
    max_minutes: Annotated[float | None, typer.Option(help="Wall-clock budget; stop cleanly and save when used.")
                           ] = None,
    descriptor_weight: Annotated[float, typer.Option(help="Weight of the auxiliary RDKit-descriptor objective "
                                                     "(0: off).")] = 0.0,
    descriptor_hidden: Annotated[int, typer.Option(help="Hidden width of the descriptor head.")] = 128,
    descriptor_cache: Annotated[str | None, typer.Option(help="Parquet cache of descriptors (default: "
                                                         "<output>.descriptors.parquet beside the output).")] = None,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bfloat16 autocast on the training device (CPUs with "
                                       "AVX512-BF16/AMX, and CUDA GPUs).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run saved in the output directory (starts "
                                         "afresh when there is none).")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the global --seed).")] = None,
) -> None:
    """Masked-language-model training (stage 1) on SMILES; writes a checkpoint directory with its training log."""
    import time

    clock_start = time.monotonic()
    from molpeft_cli.cli.common import Recorder
    from molpeft_cli.console import info, warn
    from molpeft_cli.errors import MolpeftError
    from molpeft_cli.settings import resolve_device, resolve_seed, settings
    from molpeft_cli.training.corpus import load_corpus
    from molpeft_cli.training.mlm_config import MLMConfig

    seed = resolve_seed(seed)
    settings_ = MLMConfig(
        mask_prob=mask_prob, mask_token_frac=mask_token_frac, random_token_frac=random_token_frac, lr=lr,
        weight_decay=weight_decay, batch_size=batch_size, epochs=epochs,
        max_steps=max_steps, eval_every=eval_every, save_every=save_every, patience=patience, holdout=holdout,
        warmup=warmup, schedule=schedule, max_grad_norm=max_grad_norm, max_minutes=max_minutes,
        descriptor_weight=descriptor_weight, descriptor_hidden=descriptor_hidden, bf16=bf16, seed=seed,
    )
    if config is not None and not from_scratch:
        raise MolpeftError("--config sets the size of a new model: use it with --from-scratch")
    if from_scratch and config not in SIZES:
        raise MolpeftError(f"--from-scratch needs --config, one of {', '.join(SIZES)}")
    if vocab_extra and not from_scratch:
        raise MolpeftError("--vocab-extra builds a new vocabulary: use it with --from-scratch")
    split_names = [s.strip() for s in splits.split(",") if s.strip()]
    corpus = load_corpus(input, split_names)
    excluded = f", {corpus.rows_excluded} rows of other splits left out" if corpus.rows_excluded else ""
    info(f"corpus: {len(corpus.smiles)} SMILES from {corpus.kind} {corpus.source}{excluded}")

    import torch

    from molpeft_cli.training.mlm import MLMTrainer, prepare_mlm_data
    from molpeft_cli.training.mlm_state import has_saved_run, load_saved_model, read_run, resume_dir

    if settings.threads:
        torch.set_num_threads(settings.threads)
    out_dir = Path(output)
    saved = None
    if resume and has_saved_run(out_dir):
        saved = read_run(out_dir)
        differences = settings_.resume_differences(saved.config)
        if differences:
            raise MolpeftError(f"--resume: settings differ from the saved run in {out_dir}: " + "; ".join(differences))
        net, tokenizer = load_saved_model(out_dir)
    else:
        if resume:
            info(f"no saved run in {out_dir}: starting a new one")
        elif has_saved_run(out_dir):
            warn(f"{out_dir} holds a saved run; it will be replaced (pass --resume to continue it)")
        net, tokenizer, vocab_report = _build_model(model, from_scratch, config, corpus.smiles, vocab_extra or [],
                                                    seed)
    cache = descriptor_cache or str(out_dir.parent / f"{out_dir.name}.descriptors.parquet")
    data = prepare_mlm_data(corpus.smiles, tokenizer, settings_, descriptor_cache=cache,
                            workers=settings.threads or 1)
    if saved is not None and saved.data.get("corpus_sha256") != data.summary["corpus_sha256"]:
        raise MolpeftError(f"--resume: the corpus differs from the one the saved run in {out_dir} trained on")
    n_params = sum(p.numel() for p in net.parameters())
    info(f"model: {type(net).__name__}, {n_params:,} parameters, vocabulary {len(tokenizer.vocab)} tokens; "
         f"{data.summary['train_molecules']} training and {data.summary['heldout_molecules']} held-out molecules")
    recorder = Recorder("mlm", dict(settings_.to_dict(), model=None if from_scratch else model,
                                    from_scratch=from_scratch, config=config, splits=split_names,
                                    vocab_extra=vocab_extra or []), seed,
                        {"input": input, **{f"vocab_extra_{i}": p for i, p in enumerate(vocab_extra or [])}})
    data_info = {"corpus": corpus.source, "kind": corpus.kind, "encoding": {
        k: v for k, v in data.summary.items() if k != "unknown_token_counts"}}
    device = resolve_device()
    if device != "cpu":
        info(f"training on {device}")
    trainer = MLMTrainer(net, tokenizer, data, settings_, out_dir, saved=saved, data_info=data_info,
                         clock_start=clock_start, device=device)
    state = trainer.train()
    extra = {"stop_reason": state.stop_reason, "finished": state.finished, "steps": state.step,
             "best_heldout_loss": state.best_loss, "best_step": state.best_step, "parameters": n_params,
             "data": data.summary}
    if saved is None:
        extra["vocabulary"] = vocab_report
    recorder.write(out_dir if state.finished else resume_dir(out_dir), extra=extra, directory=True)


def _build_model(name: str, from_scratch: bool, size: str | None, smiles: list[str], vocab_extra: list[str],
                 seed: int):
    """The MLM model and tokenizer to start from: a fresh one on a vocabulary of the corpus (+ extra SMILES), or a
    pretrained checkpoint; also a small report of the vocabulary."""
    import torch
    from rich.markup import escape

    from molpeft_cli.console import info
    from molpeft_cli.model import MolformerForMaskedLM, MolformerTokenizer, build_vocab, encode_smiles, named_config
    from molpeft_cli.model.loading import load_pretrained

    if not from_scratch:
        loaded = load_pretrained(name, "mlm")
        return loaded.model, loaded.tokenizer, {"source": name, "tokens": len(loaded.tokenizer.vocab)}
    extra = _extra_smiles(vocab_extra)
    vocab = build_vocab(smiles)  # the corpus' tokens by frequency, then tokens only the extra SMILES have
    from_corpus = len(vocab)
    for token in build_vocab(extra):
        vocab.setdefault(token, len(vocab))
    tokenizer = MolformerTokenizer(vocab=vocab, model_max_length=202)
    report = {"tokens": len(vocab), "from_corpus": from_corpus, "extra_smiles": len(extra)}
    info(f"vocabulary: {len(vocab)} tokens ({report['from_corpus']} from the corpus, "
         f"{len(vocab) - report['from_corpus']} more from {len(extra)} extra SMILES): "
         + escape(" ".join(list(vocab)[5:])))
    if extra:
        check = encode_smiles(tokenizer, extra, truncate=True).summary()
        report["extra_unknown_tokens"] = check["unknown_tokens"]
        info(f"extra SMILES: {check['unknown_tokens']} <unk> tokens in {check['molecules']} molecules")
    torch.manual_seed(seed)
    model = MolformerForMaskedLM(named_config(size, vocab_size=len(vocab)))
    return model, tokenizer, report


def _extra_smiles(paths: list[str]) -> list[str]:
    from molpeft_cli.training.corpus import load_corpus

    smiles: list[str] = []
    for path in paths:
        smiles += load_corpus(path, None, columns=("smiles", "smiles_canonical")).smiles
    return list(dict.fromkeys(smiles))


def register(app: typer.Typer) -> None:
    app.command("mlm")(mlm)
