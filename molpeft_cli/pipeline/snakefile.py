"""The study plan as a Snakefile: one rule per step, with the same command lines, inputs and outputs as the
Makefile export, and the resources a cluster scheduler needs (threads, memory, GPUs).

`snakemake -s PATH -j N` runs it on one host; `snakemake -s PATH --executor slurm --jobs 100` (or a profile, see
examples/cluster/) submits every step as its own job. Each step still writes its manifest, so `molpeft run` on the
same run directory afterwards finds every step up to date.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from molpeft_cli.pipeline.plan import Step, StudyPlan

# The commands that run the model (and so want a GPU when there is one); the rest read and write tables.
MODEL_COMMANDS = ("mlm", "finetune", "eval", "influence")
LIGHT_MEMORY_MB = 2000
MODEL_MEMORY_MB = {"paper": 16000}  # MoLFormer-XL; the bundled mini and the tiny model fit in the default
DEFAULT_MODEL_MEMORY_MB = 4000


@dataclass(frozen=True)
class StepResources:
    threads: int
    mem_mb: int
    gpu: bool  # the step takes the GPU count of the run (`GPUS` in the Snakefile)


def uses_model(step: Step) -> bool:
    if step.command == "select":  # a strategy that runs a fine-tuned model (MC dropout) is given one
        return step.config.model is not None
    return step.command in MODEL_COMMANDS


def step_resources(step: Step, profile: str, threads: int) -> StepResources:
    if uses_model(step):
        return StepResources(threads, MODEL_MEMORY_MB.get(profile, DEFAULT_MODEL_MEMORY_MB), True)
    return StepResources(threads, LIGHT_MEMORY_MB, False)


def rule_name(step: Step) -> str:
    """Step names (`finetune:two-stage-full-none-s0`) as Python identifiers, which Snakemake rule names must be."""
    name = re.sub(r"\W", "_", step.name)
    return name if not name[0].isdigit() else f"step_{name}"


def _outputs(step: Step) -> list[str]:
    if step.directory:
        return [f"directory({_quote(step.output)})"]
    return [_quote(step.output), _quote(step.manifest), *(_quote(p) for p in step.extra_outputs)]


def _quote(value: object) -> str:
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _shell(argv: list[str]) -> str:
    # Snakemake formats shell commands with str.format: literal braces must be doubled
    command = shlex.join(argv).replace("{", "{{").replace("}", "}}")
    return _quote("{MOLPEFT} " + command)


def render_snakefile(plan: StudyPlan, global_args: list[str], threads: int = 1, gpus: int = 0,
                     workdir: Path | None = None) -> str:
    """The Snakefile text. `gpus` is the default GPU count of model steps (`--config gpus=N` overrides it);
    `workdir` anchors relative paths to where the plan was made."""
    by_name = {s.name: s for s in plan.steps}
    lines = [
        f"# molpeft study: profile {plan.profile.name}; made by `molpeft run --snakefile`.",
        "# Run: snakemake -s THIS_FILE -j 2   (a cluster: see examples/cluster/ in the molpeft repository)",
        "# --config molpeft='python -m molpeft_cli' picks the program; --config gpus=1 asks a GPU per model step.",
        "",
    ]
    if workdir is not None:
        lines += [f"workdir: {_quote(workdir)}", ""]
    lines += [
        'MOLPEFT = config.get("molpeft", "molpeft")',
        f'GPUS = int(config.get("gpus", {gpus}))',
        "",
        "rule all:",  # every step, as some outputs (the audit) are read by the report without being its inputs
        "    input:",
        *(f"        {_quote(step.output)}," for step in plan.steps),
        "    default_target: True",
        "",
    ]
    for step in plan.steps:
        res = step_resources(step, plan.profile.name, threads)
        inputs = [_quote(by_name[d].output) for d in step.deps if d in by_name]
        lines.append(f"rule {rule_name(step)}:")
        if inputs:
            lines += ["    input:", *(f"        {i}," for i in inputs)]
        lines += ["    output:", *(f"        {o}," for o in _outputs(step))]
        lines.append(f"    threads: {res.threads}")
        lines.append(f"    resources: mem_mb={res.mem_mb}, gpu={'GPUS' if res.gpu else 0}")
        lines.append(f"    shell: {_shell([*global_args, *step.argv])}")
        lines.append("")
    return "\n".join(lines)


def write_snakefile(plan: StudyPlan, path: Path, global_args: list[str], threads: int = 1, gpus: int = 0) -> None:
    from molpeft_cli.data.atomic import write_text_atomic

    relative = not plan.run_dir.is_absolute()
    text = render_snakefile(plan, global_args, threads, gpus, Path(os.getcwd()) if relative else None)
    write_text_atomic(path, text)
