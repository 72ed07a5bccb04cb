"""Chemistry with RDKit and DeepChem: standardisation, scaffolds, fingerprints, splitters, leakage audit."""
