"""Native MoLFormer: config, named sizes, tokenizer and encoding, encoder and task models, loading and saving.

Importing this package imports torch and transformers and registers the classes with the transformers Auto
classes, so `AutoModel.from_pretrained(dir)` works on MoLFormer checkpoints without `trust_remote_code`.
"""

from molpeft_cli.model.config import MolformerConfig
from molpeft_cli.model.encoding import EncodedSmiles, encode_smiles
from molpeft_cli.model.heads import MolformerForMaskedLM, MolformerForRegression
from molpeft_cli.model.loading import LoadedModel, LoadReport, load_pretrained, save_checkpoint
from molpeft_cli.model.modeling import MolformerModel, MolformerPreTrainedModel
from molpeft_cli.model.named import NAMED_SIZES, named_config
from molpeft_cli.model.registration import register_auto_classes
from molpeft_cli.model.tokenizer import MolformerTokenizer, build_vocab, split_smiles

register_auto_classes()

__all__ = [
    "EncodedSmiles",
    "LoadReport",
    "LoadedModel",
    "MolformerConfig",
    "MolformerForMaskedLM",
    "MolformerForRegression",
    "MolformerModel",
    "MolformerPreTrainedModel",
    "MolformerTokenizer",
    "NAMED_SIZES",
    "build_vocab",
    "encode_smiles",
    "load_pretrained",
    "named_config",
    "register_auto_classes",
    "save_checkpoint",
    "split_smiles",
]
