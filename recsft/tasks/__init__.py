"""Downstream tasks on behaviour sequences: labels, fine-tuned classifiers, baselines,
clustering."""
