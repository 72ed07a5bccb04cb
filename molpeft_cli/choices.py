"""Names of the choices the CLI offers, importable without RDKit, polars or torch (so --help stays instant)."""

SPLIT_STRATEGIES = ("random", "scaffold", "weight", "maxmin", "butina", "fingerprint")
DEDUPE_MODES = ("mean", "first", "error")
