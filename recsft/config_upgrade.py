"""Run configs written by earlier versions of recsft, read as this version reads them.

Example:
    >>> upgrade({"data": {"collapse_repeats": True}}, ("model_type",))
    {'data': {'preprocess': {'collapse_repeats': True}}}
"""

from __future__ import annotations

from typing import Any

#: The fields of the ``model:`` section before it was handed to the model's config class; run
#: folders of those versions record all of them, ``null`` meaning "the model's default".
_LEGACY_MODEL_KEYS = frozenset({
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "intermediate_size", "hidden_dropout_prob", "attention_probs_dropout_prob",
    "use_event_types", "use_time_gaps", "use_categories", "use_output_transform", "norm_first",
    "initializer_range", "loss", "num_negatives", "negative_sampling", "gbce_t",
    "embedding_size", "use_output_projection", "attention_type",
})


def upgrade(raw: dict[str, Any], run_keys: tuple[str, ...]) -> dict[str, Any]:
    """A run config of an earlier version as this version reads it (a new dict).

    * ``data.collapse_repeats`` is now under ``data.preprocess``.
    * A ``model:`` section recorded whole by an earlier version (every field of every model
      type, as ``run_config.yaml`` holds it) keeps the fields of its model type that it set;
      the others were ignored by that version and are dropped.

    Args:
        raw: The config as read from YAML.
        run_keys: Keys of the ``model:`` section that are not model fields
            (``ModelSection.RUN_KEYS``).
    """
    raw = dict(raw)
    data = raw.get("data")
    if isinstance(data, dict) and "collapse_repeats" in data:
        data = dict(data)
        preprocess = dict(data.get("preprocess") or {})
        preprocess.setdefault("collapse_repeats", data.pop("collapse_repeats"))
        data["preprocess"] = preprocess
        raw["data"] = data
    model = raw.get("model")
    if isinstance(model, dict) and set(model) == _LEGACY_MODEL_KEYS:
        from recsft.modeling import MODEL_FIELDS

        fields_class = MODEL_FIELDS.get(model["model_type"])
        if fields_class is not None:
            keep = set(fields_class.field_names()) | set(run_keys)
            raw["model"] = {key: value for key, value in model.items()
                            if key in keep and value is not None}
    return raw
