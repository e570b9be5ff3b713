"""Models by model type, built from a run config.

The one place that turns a run config's ``model:`` section into a model: the section's fields
(with the model's own defaults where it sets none, see :class:`recsft.config.ModelSection`)
plus what the tokenizer and the data decide (vocabulary, special token ids, longest sequence,
category table).

Example:
    >>> config = RunConfig.from_dict({"model": {"model_type": "sasrec"}})
    >>> model = create_model(config, tokenizer)
    >>> uses_mask_token("sasrec"), uses_mask_token("bert4rec")
    (False, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recsft.modeling import MODEL_FIELDS, type_classes

if TYPE_CHECKING:
    import numpy as np

    from recsft.config import RunConfig
    from recsft.text.vectors import TokenTexts
    from recsft.tokenization import BehaviorTokenizer

#: Prefix of the ``model_type`` a recsft config class writes into ``config.json``.
CONFIG_PREFIX = "recsft_"


def _run_model_type(model_type: Any) -> str:
    """``"sasrec"`` for ``"sasrec"`` and for ``"recsft_sasrec"``.

    Raises:
        ConfigError: neither a run config's nor a recsft config class's model type.
    """
    if isinstance(model_type, str):
        name = model_type.removeprefix(CONFIG_PREFIX)
        if name in MODEL_FIELDS:
            return name
    from recsft.config import ConfigError
    from recsft.errors import shorten

    raise ConfigError(f"unknown model_type {shorten(model_type)}; expected one of "
                      f"{', '.join(sorted(MODEL_FIELDS))}")


def model_classes(model_type: str) -> tuple[type, type]:
    """The (config class, model class) of a model type, importing only those two.

    Args:
        model_type: A run config's ``model.model_type`` (``"sasrec"``) or the ``model_type``
            a recsft config writes into ``config.json`` (``"recsft_sasrec"``).

    Raises:
        ConfigError: an unknown model type (a ``ValueError``).
    """
    return type_classes(_run_model_type(model_type))


def uses_mask_token(model_type: str) -> bool:
    """Whether the model reads a history with an appended ``[MASK]`` (the Cloze family).

    Read off the model's fields without importing transformers.

    Args:
        model_type: As for :func:`model_classes`.
    """
    return bool(MODEL_FIELDS[_run_model_type(model_type)].uses_mask_token)


def model_config(config: RunConfig, tokenizer: BehaviorTokenizer,
                 item_categories: np.ndarray | None = None, text_dim: int = 0) -> Any:
    """The model's config class instance for a run config, sized to the tokenizer.

    Args:
        config: The run config: ``model`` gives the fields (the model's defaults for those it
            does not set), ``data.max_length`` the longest sequence.
        tokenizer: The run's tokenizer (vocabulary size, first item id, special token ids).
        item_categories: ``(vocab_size, width)`` category ids per token; required when
            ``model.use_categories``.
        text_dim: Width of the items' text vectors; required (above 0) when
            ``model.item_representation`` reads text.

    Returns:
        A ``PretrainedConfig`` of the model type.

    Raises:
        ConfigError: unknown model type, a field the model type does not have, or a value of
            the wrong type.
        ValueError: categories asked for without a table, or text without its width.
    """
    config_class, _ = model_classes(config.model.model_type)
    fields = config.model.resolved()
    if config.model.use_categories:
        if item_categories is None:
            raise ValueError("model.use_categories needs the item category table")
        fields["num_categories"] = int(item_categories.max())
        fields["max_item_categories"] = int(item_categories.shape[1])
    if fields.get("item_representation", "id") != "id":
        if text_dim <= 0:
            raise ValueError(f"model.item_representation {fields['item_representation']!r} "
                             "needs the items' text vectors")
        fields["text_dim"] = int(text_dim)
    return config_class(
        vocab_size=len(tokenizer), first_item_id=tokenizer.first_item_id,
        num_token_types=tokenizer.num_token_types, max_position_embeddings=config.data.max_length,
        pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id, **fields,
    )


def create_model(config: RunConfig, tokenizer: BehaviorTokenizer,
                 item_categories: np.ndarray | None = None, item_text: TokenTexts | None = None,
                 has_id: np.ndarray | None = None) -> Any:
    """Instantiate the model a run config names, sized to the tokenizer (random weights).

    Args:
        config: The run config.
        tokenizer: The run's tokenizer.
        item_categories: ``(vocab_size, width)`` category ids per token; required when
            ``model.use_categories`` (see ``recsft.training.pipeline.item_categories``).
        item_text: The items' text vectors in token order; required when
            ``model.item_representation`` reads text.
        has_id: ``(num_items,)`` booleans, the items that had training interactions (their id
            embedding is read under ``"id+text"``); ``None``: every item.

    Returns:
        The model (a ``PreTrainedModel``), in training mode.

    Raises:
        ConfigError: as :func:`model_config`.
        ValueError: categories asked for without a table, or text without its vectors.
    """
    import torch

    _, model_class = model_classes(config.model.model_type)
    text_dim = 0 if item_text is None else int(item_text.vectors.shape[1])
    model = model_class(model_config(config, tokenizer, item_categories, text_dim))
    if config.model.use_categories:
        model.set_item_categories(torch.from_numpy(item_categories))
    if model.embeddings.text is not None:
        model.set_item_text(torch.from_numpy(item_text.vectors),
                            None if has_id is None else torch.from_numpy(has_id))
    return model


#: Keys of a ``config.json`` that name code to import; recsft never follows them.
CODE_KEYS = ("auto_map", "custom_pipelines")


def refuse_code(path: Any, config: dict[str, Any]) -> None:
    """Refuse a config (``config.json``, ``tokenizer_config.json``) that names code to import.

    Raises:
        RunFolderError: naming the file and the key (:data:`CODE_KEYS`).
    """
    from recsft.errors import RunFolderError

    for key in CODE_KEYS:
        if key in config:
            raise RunFolderError(f"{path}: field '{key}' points at code to import; recsft never "
                                 "runs code from a model folder (remove the field)")


def read_model_config(directory: Any) -> dict[str, Any]:
    """A model folder's ``config.json``, refused when it names code to import or a model type
    recsft does not have.

    Args:
        directory: The folder.

    Returns:
        The config as a dict.

    Raises:
        RunFolderError: not a readable JSON object, a code key (:data:`CODE_KEYS`), or an
            unknown ``model_type``; the message names the file and the field.
    """
    import os

    from recsft.errors import RunFolderError
    from recsft.fileio import read_json

    path = os.path.join(os.fspath(directory), "config.json")
    config = read_json(path, "model config", RunFolderError)
    if not isinstance(config, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    refuse_code(path, config)
    try:
        model_classes(config.get("model_type"))
    except ValueError:
        raise RunFolderError(f"{path}: field 'model_type' is {config.get('model_type')!r}, not "
                             "a recsft model type") from None
    return config


def load_model(directory: Any) -> Any:
    """A recsft model saved with ``save_pretrained``, loaded without running code from it.

    The config's ``model_type`` picks one of recsft's own model classes (never ``auto_map`` /
    ``trust_remote_code``), and the weights come from ``model.safetensors`` only.

    Args:
        directory: The folder (a run, a task's classifier, a user encoder).

    Returns:
        The model in eval mode.

    Raises:
        RunFolderError: no readable ``config.json``, a config naming code to import, an unknown
            model type, or weights that are missing, pickled only, or do not fit.
    """
    import os

    from recsft.errors import RunFolderError

    config = read_model_config(directory)
    _, model_class = model_classes(config["model_type"])
    weights = os.path.join(os.fspath(directory), "model.safetensors")
    if not os.path.isfile(weights):
        raise RunFolderError(f"{weights}: missing; recsft loads weights from safetensors only")
    try:
        model = model_class.from_pretrained(os.fspath(directory), use_safetensors=True,
                                            trust_remote_code=False)
    except Exception as err:  # noqa: BLE001 (safetensors raises its own SafetensorError)
        text = " ".join(str(err).split())[:300]
        raise RunFolderError(f"{weights}: cannot be loaded into a {config['model_type']} model "
                             f"({text})") from None
    return model.eval()
