"""`molpeft data`: a bundled dataset, a file or a URL -> the molecule table (+ rejects)."""

from __future__ import annotations

from typing import Annotated

import typer

from molpeft_cli.choices import DEDUPE_MODES


def data(
    source: Annotated[
        str,
        typer.Argument(metavar="SOURCE", help="Bundled name (lipophilicity), a CSV/parquet path, or an http(s) URL."),
    ],
    output: Annotated[str, typer.Option("--output", "-o", help="Molecule table (parquet; '-' for stdout).")],
    smiles_col: Annotated[str | None, typer.Option(help="SMILES column (default: detected).")] = None,
    label_col: Annotated[str | None, typer.Option(help="Label column (default: detected).")] = None,
    id_col: Annotated[str | None, typer.Option(help="Identifier column (default: detected, else InChIKey).")] = None,
    unlabeled: Annotated[bool, typer.Option(help="Allow a table without labels (an unlabeled pool).")] = False,
    rejects: Annotated[str | None, typer.Option(help="Write rejected rows with reasons here.")] = None,
    strict: Annotated[bool, typer.Option(help="Fail if any row is rejected.")] = False,
    dedupe: Annotated[str, typer.Option(help=f"Duplicate compounds: {'|'.join(DEDUPE_MODES)}.")] = "mean",
    sha256: Annotated[str | None, typer.Option(help="Expected sha256 of the source file or download.")] = None,
    refresh: Annotated[bool, typer.Option(help="Download again (bundled names: MoleculeNet's canonical CSV).")] = False,
    sample: Annotated[int | None, typer.Option(min=1, help="Keep a seeded random sample of this many molecules "
                                               "(after rejects and dedupe).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for --sample (default: the global --seed).")] = None,
) -> None:
    """Read a dataset, standardise every molecule with RDKit, and write the molecule table."""
    from molpeft_cli.cli.common import Recorder, report_build
    from molpeft_cli.console import info
    from molpeft_cli.data.molecules import build_molecule_table
    from molpeft_cli.data.registry import resolve_source
    from molpeft_cli.data.tables import read_table, write_table
    from molpeft_cli.errors import MolpeftError

    if dedupe not in DEDUPE_MODES:
        raise MolpeftError(f"unknown --dedupe {dedupe!r}; choose one of {', '.join(DEDUPE_MODES)}")
    resolved = resolve_source(source, refresh=refresh, sha256=sha256)
    from molpeft_cli.settings import resolve_seed

    seed = resolve_seed(seed)
    recorder = Recorder("data", dict(source=source, smiles_col=smiles_col, label_col=label_col, id_col=id_col,
                                     unlabeled=unlabeled, strict=strict, dedupe=dedupe, refresh=refresh,
                                     sample=sample),
                        seed if sample else None, {"source": resolved.path})
    raw = read_table(resolved.path)
    result = build_molecule_table(raw, source=resolved.name, smiles_col=smiles_col, label_col=label_col,
                                  id_col=id_col, unlabeled=unlabeled, dedupe=dedupe)
    report_build(result, resolved.name)
    if rejects:
        write_table(result.rejects, rejects)
    if strict and result.rejects.height:
        first = result.rejects.row(0, named=True)
        raise MolpeftError(f"--strict: {result.rejects.height} rows rejected, first: row {first['row']} "
                           f"({first['reason']})")
    if result.molecules.height == 0:
        raise MolpeftError(f"no usable molecules in {source}: all {result.rejects.height} rows were rejected")
    molecules = result.molecules
    if sample is not None and sample < molecules.height:
        molecules = molecules.sample(n=sample, seed=seed, shuffle=False)
        info(f"kept a random sample of {sample} molecules (seed {seed})")
    write_table(molecules, output)
    recorder.write(output, extra={"source": {"origin": resolved.origin, "sha256": resolved.sha256},
                                  "counts": {"molecules": molecules.height, "rejects": result.rejects.height,
                                             "duplicate_groups": result.duplicates.groups},
                                  "columns": result.columns})
    if output != "-":
        info(f"wrote {molecules.height} molecules to {output}")


def register(app: typer.Typer) -> None:
    app.command("data")(data)
