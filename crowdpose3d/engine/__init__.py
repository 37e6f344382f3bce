"""The model's life cycle: predictor, trainer, evaluator and pose metrics."""
