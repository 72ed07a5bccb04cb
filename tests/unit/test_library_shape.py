"""The library is usable without the CLI: no module outside `molpeft_cli/cli/` imports it, Typer, the Rich console
or sys.argv; the pipeline loads neither Typer nor the CLI; errors name settings and the CLI shows them as flags."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "molpeft_cli"
ENTRY_POINT = PACKAGE / "__main__.py"  # `python -m molpeft_cli` is the CLI's own entry point


def library_modules() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts[:1]
            and p != ENTRY_POINT]


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_library_modules_exist():
    assert len(library_modules()) > 50


@pytest.mark.parametrize("forbidden", ["molpeft_cli.cli", "typer", "molpeft_cli.console"])
def test_no_library_module_imports_the_cli_layer(forbidden):
    offenders = [str(p.relative_to(PACKAGE)) for p in library_modules()
                 if any(n == forbidden or n.startswith(forbidden + ".") for n in imported_names(p))]
    assert offenders == []


def test_no_library_module_reads_sys_argv_or_prints():
    offenders = []
    for path in library_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "argv" and getattr(node.value, "id", "") == "sys":
                offenders.append(f"{path.relative_to(PACKAGE)}: sys.argv")
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "print":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: print()")
    assert offenders == []


def test_no_mutable_global_settings():
    import dataclasses

    from molpeft_cli import settings

    assert dataclasses.fields(settings.Runtime) and settings.Runtime.__dataclass_params__.frozen
    assert not hasattr(settings, "settings")  # the old process-wide object is gone


def test_pipeline_and_api_load_without_typer_or_the_cli():
    code = ("import sys; import molpeft_cli.pipeline.execute, molpeft_cli.pipeline.study, molpeft_cli.steps; "
            "import molpeft_cli.api; "
            "bad = [m for m in sys.modules if m == 'typer' or m.startswith('molpeft_cli.cli')]; print(','.join(bad))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_setting_errors_name_settings_and_render_as_flags():
    from molpeft_cli.errors import SettingError
    from molpeft_cli.schema import flag_of
    from molpeft_cli.steps.finetune import FinetuneConfig
    from molpeft_cli.steps.mlm import PretrainConfig
    from molpeft_cli.training.options import FinetuneOptions

    with pytest.raises(SettingError) as caught:
        FinetuneOptions(lr=-1.0)
    assert str(caught.value) == "lr must be positive"
    assert caught.value.render(lambda s: flag_of(FinetuneConfig, s)) == "--lr must be positive"
    with pytest.raises(SettingError) as caught:
        PretrainConfig(input="x.smi", output="o", size="tiny")
    assert str(caught.value) == "size sets the size of a new model: use it with from_scratch"
    assert caught.value.render(lambda s: flag_of(PretrainConfig, s)) == \
        "--size sets the size of a new model: use it with --from-scratch"


def test_library_logs_instead_of_printing(caplog, capsys):
    import logging

    from molpeft_cli.selection.base import capped_k

    caplog.set_level(logging.INFO, logger="molpeft_cli")
    assert capped_k(5, 3, "pool molecules") == 3
    assert "only 3 pool molecules" in caplog.text
    assert capsys.readouterr() == ("", "")
