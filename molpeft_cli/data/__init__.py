"""Tables, manifests, atomic writes and the dataset registry: the artifact contract."""
