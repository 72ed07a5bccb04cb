"""The `mlm` step: stage-1 masked-language-model training of MoLFormer on SMILES (a table's train split, or a SMILES
file), optionally with the RDKit-descriptor objective; writes a checkpoint directory that `finetune` can load."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.errors import SettingError
from molpeft_cli.progress import ProgressFactory
from molpeft_cli.schema import argument, check_choices, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.training.mlm_config import MLMConfig

log = logging.getLogger(__name__)

SIZES = ("tiny", "mini", "small", "xl")


@dataclass
class PretrainConfig:
    command: ClassVar[str] = "mlm"

    input: str = argument(help="Molecule table (parquet/CSV) or a SMILES file (one per line, .gz allowed).",
                          metavar="INPUT")
    output: str = option(help="Checkpoint directory to write.", flags=("--output", "-o"))
    overwrite: bool = option(False, "Replace an existing folder at --output that is not a `molpeft mlm` "
                             "output (it is renamed aside, and removed once the new output is written).")
    model: str = option("molformer-mini", "Bundled model name, checkpoint directory or hub id.")
    from_scratch: bool = option(False, "Build a vocabulary from the corpus and a fresh model of size --size.",
                                flags=("--from-scratch",))
    size: str | None = option(None, f"Model size with --from-scratch: {', '.join(SIZES)}.")
    vocab_extra: list[str] = option(default_factory=list, help="With --from-scratch: more SMILES (file or table; "
                                    "all rows, labels unused) whose tokens join the vocabulary but that are not "
                                    "trained on. Repeatable.", flags=("--vocab-extra",))
    splits: str = option("train", "Table splits to train on, comma-separated (valid/test are never used unless "
                         "named here).")
    recipe: MLMConfig = option(default_factory=MLMConfig, nested=True,
                               help="The training recipe: masking, optimiser, schedule, early stopping.")
    descriptor_cache: str | None = option(None, "Parquet cache of descriptors (default: "
                                          "<output>.descriptors.parquet beside the output).")
    resume: bool = option(False, "Continue the run saved in the output directory (starts afresh when there is "
                          "none).", flags=("--resume",))
    seed: int | None = option(None, "Seed (default: the global --seed).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("input", "output", "model", "descriptor_cache", "config"))
        if self.size is not None and not self.from_scratch:
            raise SettingError("size", "{setting} sets the size of a new model: use it with {from_scratch}")
        if self.from_scratch and self.size not in SIZES:
            raise SettingError("size", f"{{from_scratch}} needs {{setting}}, one of {', '.join(SIZES)}")
        if self.vocab_extra and not self.from_scratch:
            raise SettingError("vocab_extra", "{setting} builds a new vocabulary: use it with {from_scratch}")
        from molpeft_cli.data.validate import SPLIT_VALUES

        check_choices("splits", self.split_names, SPLIT_VALUES)
        check_numbers(self, {"seed": (0, True)})

    @property
    def split_names(self) -> list[str]:
        return [s.strip() for s in self.splits.split(",") if s.strip()]


@dataclass
class PretrainResult:
    checkpoint: Path
    state: Any  # training.mlm_state.TrainerState: steps, stop reason, best held-out loss
    summary: dict[str, Any]  # what the manifest records about the run


def pretrain_mlm(config: PretrainConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None,
                 progress: ProgressFactory | None = None, clock_start: float | None = None,
                 on_step: Callable[[int], None] | None = None) -> PretrainResult:
    """Masked-language-model training (stage 1) on SMILES; writes a checkpoint directory with its training log.
    `progress` draws bars (the CLI's); `clock_start` (time.monotonic) counts the budget from an earlier moment."""
    import time

    if clock_start is None:
        clock_start = time.monotonic()
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.training.corpus import load_corpus

    c = config
    check_step_outputs(c, {"output": True, "descriptor_cache": False}, ("input", "vocab_extra", "model", "config"))
    seed = runtime.seed_for(c.seed)
    recipe = replace(c.recipe, seed=seed)
    split_names = c.split_names
    corpus = load_corpus(c.input, split_names)
    excluded = f", {corpus.rows_excluded} rows of other splits left out" if corpus.rows_excluded else ""
    log.info(f"corpus: {len(corpus.smiles)} SMILES from {corpus.kind} {corpus.source}{excluded}")

    from molpeft_cli.training.mlm import MLMTrainer, prepare_mlm_data
    from molpeft_cli.training.mlm_state import has_saved_run, load_saved_model, read_run, resume_dir

    runtime.apply_threads()
    out_dir = Path(c.output)
    saved = None
    vocab_report: dict[str, Any] = {}
    if c.resume and has_saved_run(out_dir):
        saved = read_run(out_dir)
        differences = recipe.resume_differences(saved.config)
        if differences:
            raise SettingError("resume", f"{{setting}}: settings differ from the saved run in {out_dir}: "
                               + "; ".join(differences))
        net, tokenizer = load_saved_model(out_dir)
    else:
        if c.resume:
            log.info(f"no saved run in {out_dir}: starting a new one")
        elif has_saved_run(out_dir):
            log.warning(f"{out_dir} holds a saved run; it will be replaced (resume continues it)")
        net, tokenizer, vocab_report = build_mlm_model(c.model, c.from_scratch, c.size, corpus.smiles,
                                                       list(c.vocab_extra), seed)
    cache = c.descriptor_cache or str(out_dir.parent / f"{out_dir.name}.descriptors.parquet")
    data = prepare_mlm_data(corpus.smiles, tokenizer, recipe, descriptor_cache=cache,
                            workers=runtime.threads or 1, progress=progress)
    if saved is not None and saved.data.get("corpus_sha256") != data.summary["corpus_sha256"]:
        raise SettingError("resume", f"{{setting}}: the corpus differs from the one the saved run in {out_dir} "
                           "trained on")
    n_params = sum(p.numel() for p in net.parameters())
    log.info(f"model: {type(net).__name__}, {n_params:,} parameters, vocabulary {len(tokenizer.vocab)} tokens; "
             f"{data.summary['train_molecules']} training and {data.summary['heldout_molecules']} held-out "
             "molecules")
    recorder = Recorder("mlm", dict(recipe.to_dict(), model=None if c.from_scratch else c.model,
                                    from_scratch=c.from_scratch, config=c.size,  # manifests call the size "config"
                                    splits=split_names,
                                    vocab_extra=list(c.vocab_extra)), seed,
                        {"input": c.input, "config": c.config,
                         **{f"vocab_extra_{i}": p for i, p in enumerate(c.vocab_extra)}}, argv)
    data_info = {"corpus": corpus.source, "kind": corpus.kind, "encoding": {
        k: v for k, v in data.summary.items() if k != "unknown_token_counts"}}
    from molpeft_cli.training.distributed import launch_context, shutdown

    dist = launch_context(runtime.torch_device())  # torchrun's rank, or one process
    device = dist.device
    if not dist.is_main:  # rank 0 speaks for the run and writes it
        logging.getLogger("molpeft_cli").setLevel(logging.WARNING)
        progress = None
    if dist.distributed:
        log.info(f"data-parallel: {dist.world_size} processes ({dist.backend}), global batch {recipe.batch_size}")
    elif device != "cpu":
        log.info(f"training on {device}")
    trainer = MLMTrainer(net, tokenizer, data, recipe, out_dir, saved=saved, data_info=data_info,
                         clock_start=clock_start, on_step=on_step, progress=progress, device=device, dist=dist)
    state = trainer.train()
    shutdown()
    extra = {"stop_reason": state.stop_reason, "finished": state.finished, "steps": state.step,
             "best_heldout_loss": state.best_loss, "best_step": state.best_step, "parameters": n_params,
             "data": data.summary}
    if saved is None:
        extra["vocabulary"] = vocab_report
    extra["distributed"] = dist.describe()
    if dist.is_main:
        recorder.write(out_dir if state.finished else resume_dir(out_dir), extra=extra, directory=True)
    return PretrainResult(out_dir, state, extra)


def build_mlm_model(name: str, from_scratch: bool, size: str | None, smiles: list[str], vocab_extra: list[str],
                    seed: int):
    """The MLM model and tokenizer to start from: a fresh one on a vocabulary of the corpus (+ extra SMILES), or a
    pretrained checkpoint; also a small report of the vocabulary."""
    import torch

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
    log.info(f"vocabulary: {len(vocab)} tokens ({report['from_corpus']} from the corpus, "
             f"{len(vocab) - report['from_corpus']} more from {len(extra)} extra SMILES): "
             + " ".join(list(vocab)[5:]))
    if extra:
        check = encode_smiles(tokenizer, extra, truncate=True).summary()
        report["extra_unknown_tokens"] = check["unknown_tokens"]
        log.info(f"extra SMILES: {check['unknown_tokens']} <unk> tokens in {check['molecules']} molecules")
    torch.manual_seed(seed)
    model = MolformerForMaskedLM(named_config(size, vocab_size=len(vocab)))
    return model, tokenizer, report


def _extra_smiles(paths: list[str]) -> list[str]:
    from molpeft_cli.training.corpus import load_corpus

    smiles: list[str] = []
    for path in paths:
        smiles += load_corpus(path, None, columns=("smiles", "smiles_canonical")).smiles
    return list(dict.fromkeys(smiles))
