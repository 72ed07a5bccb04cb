"""Split strategy names, importable without RDKit or DeepChem (for fast --help)."""

STRATEGY_NAMES = ("random", "scaffold", "weight", "maxmin", "butina", "fingerprint")
