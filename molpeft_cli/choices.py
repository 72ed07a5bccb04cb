"""The names every part of molpeft offers, in one place and importable without RDKit, polars or torch (so --help
stays instant). The registries (`adapters.REGISTRY`, `selection.REGISTRY`, `chem.splitters.STRATEGIES`) hold
exactly these keys (a test checks it); everything else (CLI help, configs, profiles, the report's order) reads
them from here."""

SPLIT_STRATEGIES = ("random", "scaffold", "weight", "maxmin", "butina", "fingerprint")
DEDUPE_MODES = ("mean", "first", "error")

ADAPTERS = ("full", "bitfit", "lora", "ia3")  # adapters.REGISTRY, in report order
# selection.REGISTRY: the original study's strategies, then the field's batch strategies (not on the study grid)
SELECTION_STRATEGIES = ("all", "random", "maxmin", "mcdropout", "influence", "egl", "kcenter", "badge", "lcmd",
                        "gradsim")
NO_SELECTION = "none"  # the grid's baseline: training data as split, nothing added
# the grid's axis (the original study's five and none), report order
SELECTIONS = (NO_SELECTION, "all", "random", "mcdropout", "maxmin", "influence")
FEATURE_SETS = ("rdkit2d", "morgan-count")  # chem.features: extra molecule features for the regression head
