"""The `carve` step: set aside a pool of whole scaffold groups from a dataset (when no external pool is given)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from molpeft_cli.data.outputs import check_step_outputs
from molpeft_cli.schema import argument, check_not_empty, check_numbers, config_option, option
from molpeft_cli.settings import Runtime
from molpeft_cli.tasks import is_binary

log = logging.getLogger(__name__)


@dataclass
class CarveConfig:
    command: ClassVar[str] = "carve"

    input: str = argument(help="Molecule table ('-' for stdin).", metavar="INPUT")
    output: str = option(help="The dataset without the pool.", flags=("--output", "-o"))
    pool: str = option(help="Where to write the carved pool table.")
    size: int = option(300, "Pool size in molecules.", flags=("--size", "-n"))
    seed: int | None = option(None, "Seed for choosing scaffold groups (default: global).")
    config: str | None = config_option()

    def __post_init__(self) -> None:
        check_not_empty(self, ("input", "output", "pool", "config"))
        check_numbers(self, {"size": (1, True), "seed": (0, True)})


@dataclass
class CarveResult:
    dataset: Any  # polars.DataFrame: the dataset without the pool
    pool: Any  # polars.DataFrame: the carved pool


def carve(config: CarveConfig, runtime: Runtime = Runtime(), argv: list[str] | None = None) -> CarveResult:
    """Move seeded whole Bemis-Murcko scaffold groups into a pool table until it holds `size` molecules."""
    from molpeft_cli.chem.carve import carve_pool
    from molpeft_cli.data.loading import load_molecules
    from molpeft_cli.data.recorder import Recorder
    from molpeft_cli.data.tables import write_table

    c = config
    check_step_outputs(c, {"output": False, "pool": False}, ("input", "config"))
    seed = runtime.seed_for(c.seed)
    recorder = Recorder("carve", dict(size=c.size), seed, {"input": c.input, "config": c.config}, argv, config=c)
    table = load_molecules(c.input, "input")
    rest, carved = carve_pool(table, c.size, seed)
    log.info(f"carved a pool of {carved.height} molecules ({carved['smiles_canonical'].n_unique()} compounds) "
             f"out of {table.height}; {rest.height} remain")
    if is_binary(table["label"].to_list()):  # whole scaffold groups take no heed of classes: say what they hold
        log.info(f"positive molecules: {int(carved['label'].sum())} of {carved.height} in the pool, "
                 f"{int(rest['label'].sum())} of {rest.height} in the rest")
    write_table(carved, c.pool)
    recorder.write(c.pool, extra={"pool_size": carved.height, "remaining": rest.height})
    write_table(rest, c.output)
    recorder.write(c.output, extra={"pool_size": carved.height, "remaining": rest.height})
    return CarveResult(rest, carved)
