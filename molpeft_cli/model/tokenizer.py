"""The MoLFormer SMILES tokenizer: regex pre-tokenisation and a `vocab.json` (token -> id), as a transformers
(python, "slow") tokenizer so `AutoTokenizer.from_pretrained` / `save_pretrained` round-trip a checkpoint
directory.

A sequence is `<bos> tokens <eos>`, padded on the right with `<pad>`. Special token ids are read from
`vocab.json`, so the published vocabulary loads whatever its ids; vocabularies built here put `<bos> <eos>
<pad> <unk> <mask>` first (ids 0-4, so `<pad>` = 2 = MolformerConfig.pad_token_id).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from transformers import PreTrainedTokenizer

from molpeft_cli.errors import MolpeftError

SMILES_PATTERN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
)
SPECIAL_TOKENS = ("<bos>", "<eos>", "<pad>", "<unk>", "<mask>")
UNMATCHED = "<unk>"
VOCAB_FILE = "vocab.json"


def scan_smiles(smiles: str) -> list[tuple[str, bool]]:
    """(text, matched) pieces of one SMILES in order: regex tokens, and the runs of text between them that the
    pattern cannot match (which `re.findall` would silently drop)."""
    pieces: list[tuple[str, bool]] = []
    end = 0
    for match in SMILES_PATTERN.finditer(smiles):
        if match.start() > end:
            pieces.append((smiles[end : match.start()], False))
        pieces.append((match.group(), True))
        end = match.end()
    if end < len(smiles):
        pieces.append((smiles[end:], False))
    return pieces


def split_smiles(smiles: str) -> list[str]:
    """Regex tokens of one SMILES; each run of unmatchable text becomes one `<unk>` token."""
    return [text if matched else UNMATCHED for text, matched in scan_smiles(smiles)]


def build_vocab(smiles: Iterable[str], min_frequency: int = 1) -> dict[str, int]:
    """A vocabulary from a corpus: the 5 special tokens (ids 0-4), then tokens seen at least `min_frequency`
    times, most frequent first (ties in string order)."""
    counts = Counter(token for s in smiles for token in split_smiles(s.strip()) if token != UNMATCHED)
    ranked = sorted((t for t, n in counts.items() if n >= min_frequency), key=lambda t: (-counts[t], t))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for token in ranked:
        vocab.setdefault(token, len(vocab))
    return vocab


class MolformerTokenizer(PreTrainedTokenizer):
    """SMILES tokenizer, from a `vocab.json` path (`vocab_file`) or an in-memory mapping (`vocab`)."""

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"

    def __init__(
        self,
        vocab_file: str | os.PathLike | None = None,
        vocab: dict[str, int] | None = None,
        bos_token: str = "<bos>",
        eos_token: str = "<eos>",
        pad_token: str = "<pad>",
        unk_token: str = "<unk>",
        mask_token: str = "<mask>",
        **kwargs: Any,
    ) -> None:
        if (vocab_file is None) == (vocab is None):
            raise ValueError("pass exactly one of vocab_file and vocab")
        if vocab is None:
            with open(vocab_file, encoding="utf-8") as fh:
                vocab = json.load(fh)
        # from_pretrained passes the special tokens as AddedToken objects: compare their text.
        missing = [
            str(t) for t in (bos_token, eos_token, pad_token, unk_token, mask_token) if str(t) not in vocab
        ]
        if missing:
            raise MolpeftError(f"the vocabulary lacks the special tokens {', '.join(missing)}")
        self.vocab: dict[str, int] = {str(t): int(i) for t, i in vocab.items()}
        self.ids_to_tokens = {i: t for t, i in self.vocab.items()}
        if len(self.ids_to_tokens) != len(self.vocab):
            raise MolpeftError("the vocabulary maps two tokens to the same id")
        kwargs.setdefault("cls_token", bos_token)
        kwargs.setdefault("sep_token", eos_token)
        kwargs.setdefault("model_max_length", 202)
        super().__init__(
            bos_token=bos_token,
            eos_token=eos_token,
            pad_token=pad_token,
            unk_token=unk_token,
            mask_token=mask_token,
            **kwargs,
        )

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def get_vocab(self) -> dict[str, int]:
        return {**self.vocab, **self.added_tokens_encoder}

    def smiles_to_ids(self, smiles: str) -> list[int]:
        """Token ids of one SMILES without special tokens (unknown tokens -> `<unk>` id); the fast path used
        by `molpeft_cli.model.encoding`."""
        unk = self.vocab[self.unk_token]
        return [self.vocab.get(token, unk) for token in split_smiles(smiles.strip())]

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return split_smiles(text.strip())

    def _convert_token_to_id(self, token: str) -> int:
        return self.vocab.get(token, self.vocab[self.unk_token])

    def _convert_id_to_token(self, index: int) -> str:
        return self.ids_to_tokens.get(index, self.unk_token)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def build_inputs_with_special_tokens(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        ids = [self.bos_token_id, *token_ids_0, self.eos_token_id]
        if token_ids_1 is not None:
            ids += [*token_ids_1, self.eos_token_id]
        return ids

    def get_special_tokens_mask(
        self,
        token_ids_0: list[int],
        token_ids_1: list[int] | None = None,
        already_has_special_tokens: bool = False,
    ) -> list[int]:
        if already_has_special_tokens:
            special = set(self.all_special_ids)
            return [int(i in special) for i in token_ids_0]
        mask = [1] + [0] * len(token_ids_0) + [1]
        if token_ids_1 is not None:
            mask += [0] * len(token_ids_1) + [1]
        return mask

    def create_token_type_ids_from_sequences(
        self, token_ids_0: list[int], token_ids_1: list[int] | None = None
    ) -> list[int]:
        return [0] * len(self.build_inputs_with_special_tokens(token_ids_0, token_ids_1))

    def save_vocabulary(self, save_directory: str, filename_prefix: str | None = None) -> tuple[str]:
        name = f"{filename_prefix}-{VOCAB_FILE}" if filename_prefix else VOCAB_FILE
        path = os.path.join(save_directory, name)
        ordered = dict(sorted(self.vocab.items(), key=lambda item: item[1]))
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(ordered, fh, ensure_ascii=False, indent=1)
            fh.write("\n")
        return (path,)
