"""The names every part of molpeft offers, in one place and importable without RDKit, polars or torch (so --help
stays instant). The registries (`adapters.REGISTRY`, `selection.REGISTRY`, `chem.splitters.STRATEGIES`) hold
exactly these keys (a test checks it); everything else (CLI help, configs, profiles, the report's order) reads
them from here."""

SPLIT_STRATEGIES = ("random", "scaffold", "weight", "maxmin", "butina", "fingerprint")
DEDUPE_MODES = ("mean", "first", "error")

ADAPTERS = ("full", "bitfit", "lora", "ia3")  # adapters.REGISTRY, in report order
SELECTION_STRATEGIES = ("all", "random", "maxmin", "mcdropout", "influence")  # selection.REGISTRY
NO_SELECTION = "none"  # the grid's baseline: training data as split, nothing added
SELECTIONS = (NO_SELECTION, "all", "random", "mcdropout", "maxmin", "influence")  # the grid's axis, report order
FEATURE_SETS = ("rdkit2d", "morgan-count")  # chem.features: extra molecule features for the regression head
