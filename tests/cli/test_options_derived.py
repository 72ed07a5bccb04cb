"""The CLI options are derived from the steps' config dataclasses, and the pipeline writes its steps' configs as
command lines with the same declarations: for every step of the study plans, the command line written for its
config (the Makefile's, the manifest's) makes the same config in the CLI (Typer) and reads back to it in the
library."""

from __future__ import annotations

from pathlib import Path

import pytest

from molpeft_cli.pipeline.plan import build_plan
from molpeft_cli.pipeline.profiles import ADAPTERS, PROFILES, SELECTIONS


def cli_config(command: str, args: list[str]):
    """The config the `molpeft` CLI builds from `args`, without running the command."""
    from typer.main import get_command

    from molpeft_cli.cli.app import app
    from molpeft_cli.cli.options import CONFIGS, _parameters, config_from_cli

    click_command = get_command(app).commands[command]
    ctx = click_command.make_context(command, list(args))
    _, group_of = _parameters(CONFIGS[command])
    return config_from_cli(CONFIGS[command], ctx, dict(ctx.params), group_of)


def plan_steps():
    steps = []
    for name in ("tiny", "quick"):
        profile = PROFILES[name]
        plan = build_plan(Path("/tmp/run"), profile, list(profile.seeds), list(ADAPTERS), list(SELECTIONS),
                          None, None)
        steps += [(name, s) for s in plan.steps]
    return steps


@pytest.mark.parametrize(("profile", "step"), plan_steps(), ids=lambda v: getattr(v, "name", v))
def test_pipeline_reads_each_step_as_the_cli_does(profile, step):
    from molpeft_cli.schema import parse_args, to_args

    library = step.config
    assert library == cli_config(step.command, step.argv[1:])
    assert parse_args(type(library), to_args(library)) == library


def test_every_field_is_one_option_with_its_help():
    from molpeft_cli.cli.options import CONFIGS, _parameters

    for command, config_cls in CONFIGS.items():
        params, _ = _parameters(config_cls)
        names = [p.name for p in params]
        assert len(names) == len(set(names)), command  # one declaration per setting
        for p in params:
            info = p.default
            assert info.help, f"{command} --{p.name} has no help"


def test_recipe_flags_override_the_config_file(tmp_path, runner):
    (tmp_path / "ft.toml").write_text('[finetune]\npeft = "lora"\nlr = 0.005\nmax_epochs = 7\n')
    config = cli_config("finetune", ["split.parquet", "-o", "out", "--config", str(tmp_path / "ft.toml"),
                                     "--lr", "0.002"])
    assert (config.recipe.peft, config.recipe.lr, config.recipe.max_epochs) == ("lora", 0.002, 7)
    assert config.recipe.batch_size == 64  # neither file nor flag: the default


def test_config_means_a_settings_file_for_every_command(tmp_path):
    from molpeft_cli.cli.options import CONFIGS
    from molpeft_cli.errors import InputError

    assert all("config" in {f for f in cls.__dataclass_fields__} for cls in CONFIGS.values())
    (tmp_path / "s.toml").write_text('[split]\nstrategy = "random"\nfrac = [0.7, 0.2, 0.1]\n')
    config = cli_config("split", ["in.parquet", "-o", "out.parquet", "--config", str(tmp_path / "s.toml")])
    assert (config.strategy, config.frac) == ("random", (0.7, 0.2, 0.1))
    (tmp_path / "m.toml").write_text('size = "tiny"\nfrom_scratch = true\nmask_prob = 0.2\n')
    config = cli_config("mlm", ["in.smi", "-o", "ckpt", "--config", str(tmp_path / "m.toml"), "--mask-prob", "0.3"])
    assert (config.size, config.from_scratch, config.recipe.mask_prob) == ("tiny", True, 0.3)
    (tmp_path / "bad.toml").write_text("[eval]\nspilt = 'test'\n")
    with pytest.raises(InputError, match="unknown fields for eval: spilt"):
        cli_config("eval", ["ckpt", "data.parquet", "-o", "p.parquet", "--config", str(tmp_path / "bad.toml")])
