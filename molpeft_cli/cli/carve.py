"""`molpeft carve`: set aside a pool of whole scaffold groups from a dataset (when no external pool is given)."""

from __future__ import annotations

from typing import Annotated

import typer


def carve(
    input: Annotated[str, typer.Argument(metavar="INPUT", help="Molecule table ('-' for stdin).")],
    output: Annotated[str, typer.Option("--output", "-o", help="The dataset without the pool.")],
    pool: Annotated[str, typer.Option(help="Where to write the carved pool table.")],
    size: Annotated[int, typer.Option("--size", "-n", help="Pool size in molecules.")] = 300,
    seed: Annotated[int | None, typer.Option(help="Seed for choosing scaffold groups (default: global).")] = None,
) -> None:
    """Move seeded whole Bemis-Murcko scaffold groups into a pool table until it holds --size molecules."""
    from molpeft_cli.chem.carve import carve_pool
    from molpeft_cli.cli.common import Recorder, load_molecules
    from molpeft_cli.console import info
    from molpeft_cli.data.tables import write_table
    from molpeft_cli.settings import resolve_seed

    seed = resolve_seed(seed)
    recorder = Recorder("carve", dict(size=size), seed, {"input": input})
    table = load_molecules(input, "input")
    rest, carved = carve_pool(table, size, seed)
    info(f"carved a pool of {carved.height} molecules ({carved['smiles_canonical'].n_unique()} compounds) "
         f"out of {table.height}; {rest.height} remain")
    write_table(carved, pool)
    recorder.write(pool, extra={"pool_size": carved.height, "remaining": rest.height})
    write_table(rest, output)
    recorder.write(output, extra={"pool_size": carved.height, "remaining": rest.height})


def register(app: typer.Typer) -> None:
    app.command("carve")(carve)
