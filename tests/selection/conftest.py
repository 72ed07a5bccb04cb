import pytest


@pytest.fixture(scope="session")
def tiny_base_for_selection(tmp_path_factory):
    """A tiny MoLFormer MLM checkpoint whose vocabulary covers Lipophilicity (random weights, seeded)."""
    import json

    import polars as pl
    import torch

    import molpeft_cli.model as M
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.model.loading import save_checkpoint

    smiles = pl.read_csv(resolve_source("lipophilicity").path)["smiles"].to_list()
    directory = tmp_path_factory.mktemp("selbase")
    (directory / "v.json").write_text(json.dumps(M.build_vocab(smiles)))
    tokenizer = M.MolformerTokenizer(vocab_file=str(directory / "v.json"), model_max_length=256)
    config = M.named_config("tiny", vocab_size=len(tokenizer.vocab), max_position_embeddings=256)
    torch.manual_seed(0)
    save_checkpoint(M.MolformerForMaskedLM(config), tokenizer, directory / "base")
    return directory / "base"
