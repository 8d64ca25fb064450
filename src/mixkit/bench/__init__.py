"""The benchmark: datasets, reference models, one training loop, metrics, reports. Nothing imports it."""
