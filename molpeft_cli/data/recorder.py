"""Recording how an output was made: a step notes its start, then writes the manifest beside (or inside) each
output it finishes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from molpeft_cli.data.manifest import build_manifest, now, write_manifest


class Recorder:
    """Remembers when a step started and writes the manifest beside (or inside) its outputs.

    `argv` is the command line the step stands for (the CLI's own, or the one a pipeline step records); a call
    from Python passes none. `config` is the step's config, recorded as given (the pipeline's resume check reads it).
    """

    def __init__(self, command: str, params: dict[str, Any], seed: int | None, inputs: dict[str, Any],
                 argv: list[str] | None = None, config: Any = None):
        self.command = command
        self.params = params
        self.seed = seed
        self.inputs = inputs
        self.argv = list(argv) if argv else []
        self.config = config
        self.started = now()

    def write(self, output: str | Path, extra: dict[str, Any] | None = None, directory: bool = False) -> None:
        manifest = build_manifest(self.command, self.params, self.seed, self.inputs, self.started, extra,
                                  argv=self.argv, config=self.config)
        write_manifest(output, manifest, outputs_dir=directory)
