"""Training loops (MLM stage 1, regression stage 2), batching, metrics, checkpoints and prediction."""
