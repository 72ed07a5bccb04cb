"""Encode a list of SMILES for the model: `<bos> tokens <eos>` ids, with unknown tokens counted and molecules
longer than the model's positions refused (or, on request, truncated and recorded) -- never cut silently."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from molpeft_cli.errors import SettingError
from molpeft_cli.model.tokenizer import MolformerTokenizer, scan_smiles

SHOW_AT_MOST = 5


@dataclass
class EncodedSmiles:
    """Token ids per molecule (input order) and what encoding had to do to them."""

    input_ids: list[list[int]]
    unknown_counts: list[int]
    truncated: list[int]
    max_length: int
    unknown_tokens: Counter[str] = field(default_factory=Counter)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def summary(self) -> dict[str, int | float | dict[str, int]]:
        """Counts to record in a manifest or print: molecules, tokens, unknowns (and which), truncations."""
        lengths = self.lengths
        return {
            "molecules": len(lengths),
            "tokens": sum(lengths),
            "mean_length": sum(lengths) / len(lengths) if lengths else 0.0,
            "max_length": max(lengths, default=0),
            "molecules_with_unknown_tokens": sum(1 for n in self.unknown_counts if n),
            "unknown_tokens": sum(self.unknown_counts),
            "unknown_token_counts": dict(self.unknown_tokens.most_common()),
            "truncated": len(self.truncated),
        }


def _describe(
    indices: Sequence[int], smiles: Sequence[str], ids: Sequence[str] | None, lengths: list[int]
) -> str:
    shown = []
    for i in indices[:SHOW_AT_MOST]:
        name = ids[i] if ids is not None else f"#{i}"
        text = smiles[i] if len(smiles[i]) <= 60 else smiles[i][:57] + "..."
        shown.append(f"{name} ({lengths[i]} tokens: {text})")
    more = f" and {len(indices) - SHOW_AT_MOST} more" if len(indices) > SHOW_AT_MOST else ""
    return "; ".join(shown) + more


def encode_smiles(
    tokenizer: MolformerTokenizer,
    smiles: Sequence[str],
    *,
    max_length: int | None = None,
    truncate: bool = False,
    ids: Sequence[str] | None = None,
) -> EncodedSmiles:
    """Encode SMILES to `<bos> ... <eos>` id lists.

    max_length: positions the model has (default: tokenizer.model_max_length, 202 for MoLFormer), special
    tokens included. Longer molecules raise MolpeftError naming them (by `ids`, e.g. mol_id, else by position)
    unless `truncate` is True: then they are cut to max_length (keeping `<eos>` last) and listed in
    `.truncated`.
    """
    if ids is not None and len(ids) != len(smiles):
        raise ValueError("ids and smiles differ in length")
    limit = max_length if max_length is not None else int(tokenizer.model_max_length)
    if limit < 3:
        raise ValueError(f"max_length {limit} leaves no room for tokens between <bos> and <eos>")
    unk_id = tokenizer.vocab[tokenizer.unk_token]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    input_ids, unknown_counts, too_long, full_lengths = [], [], [], []
    unknown_tokens: Counter[str] = Counter()
    for i, text in enumerate(smiles):
        body = tokenizer.smiles_to_ids(text)
        n_unknown = body.count(unk_id)
        if n_unknown:
            unknown_tokens.update(
                t for t, matched in scan_smiles(text.strip()) if not matched or t not in tokenizer.vocab
            )
        full_lengths.append(len(body) + 2)
        if len(body) + 2 > limit:
            too_long.append(i)
            body = body[: limit - 2]
        input_ids.append([bos, *body, eos])
        unknown_counts.append(n_unknown)
    if too_long and not truncate:
        raise SettingError(
            "truncate",
            f"{len(too_long)} of {len(smiles)} molecules are longer than the model's {limit} positions "
            f"(<bos> and <eos> included): {_describe(too_long, smiles, ids, full_lengths)}. "
            "Remove them, or let them be cut to fit and recorded ({setting})."
        )
    return EncodedSmiles(input_ids, unknown_counts, too_long, limit, unknown_tokens)
