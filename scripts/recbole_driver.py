"""RecBole 1.2.1 set up the way the benchmarks drive it, in a child process of its own virtual
environment (``benchmark_speed.py``'s runner and ``time_to_quality_child.py`` both import this).

Only the standard library at the top: the RecBole environment has no recsft.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

#: Settings every benchmark run of RecBole shares: its leave-one-out split of the events in
#: time order (last event test, second-to-last validation), full ranking, CE loss without
#: negative sampling, on the CPU, quiet.
COMMON: dict[str, Any] = {
    "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full",
                  "group_by": "user"},
    "loss_type": "CE", "train_neg_sample_args": None,
    "use_gpu": False, "device": "cpu", "show_progress": False, "log_wandb": False,
}


def build(model_name: str, dataset_name: str, config_dict: dict[str, Any],
          anomaly: str = "off") -> SimpleNamespace:
    """RecBole's config, dataset, data loaders, model and trainer, as its quick-start builds them.

    Args:
        model_name: RecBole's model name (``SASRec``, ``BERT4Rec``).
        dataset_name: The atomic files' name (``<data_path>/<name>/<name>.inter``).
        config_dict: Config keys on top of :data:`COMMON` (``data_path`` among them).
        anomaly: ``"on"``: torch anomaly detection as RecBole ships it (turned on at import);
            ``"off"``: turned off once the model is built.

    Returns:
        ``config``, ``dataset``, ``train``, ``valid``, ``test`` (its data loaders), ``model``,
        ``trainer``.
    """
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, get_trainer, init_seed

    config = Config(model=model_name, dataset=dataset_name,
                    config_dict={**COMMON, **config_dict})
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train, valid, test = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train._dataset).to(config["device"])
    if anomaly == "off":
        torch.autograd.set_detect_anomaly(False)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    return SimpleNamespace(config=config, dataset=dataset, train=train, valid=valid, test=test,
                           model=model, trainer=trainer)
