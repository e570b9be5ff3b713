"""The names of the files in a run folder, in one place.

A run folder ``runs/<name>/`` written by ``recsft train``::

    config.json, model.safetensors      the model (``save_pretrained``), safetensors only
    tokenizer.json, tokenizer_config.json
    run_config.yaml                     the resolved run config
    metrics.json                        test metrics, baselines, protocol, dataset, versions
    training_log.jsonl, logs/           per-epoch record, TensorBoard
    item_index.faiss, item_index.json   FAISS index of the item vectors and its id map
    item_popularity.json                training interactions per item (cold start)
    categories.json                     category names (models with item categories)
    transitions.safetensors             item transitions (``recsft transitions``)
    cold_items.json                     items held out from training (``data.cold_items``)
    added_items.json                    items added after training (``recsft index add``)
    encoder.onnx                        the sequence encoder as ONNX (``recsft export onnx``)
    search/                             the search index (``recsft search build``:
                                        recsft.search.index)
    data/events.parquet, data/items.parquet, data/info.json
                                        the cleaned events the run was split from (local only:
                                        never pushed, datasets have their own terms)
    checkpoints/step-N/                 resume state (local only)
    recsft_manifest.json                written last: every file with its SHA-256
"""

from __future__ import annotations

MODEL_CONFIG = "config.json"
WEIGHTS = "model.safetensors"
PICKLED_WEIGHTS = ("pytorch_model.bin", "model.pt", "model.pth", "pytorch_model.bin.index.json")
TOKENIZER = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
RUN_CONFIG = "run_config.yaml"
METRICS = "metrics.json"
TRAINING_LOG = "training_log.jsonl"
TRACKER_DIR = "logs"
INDEX = "item_index.faiss"
INDEX_IDS = "item_index.json"
POPULARITY = "item_popularity.json"
CATEGORIES = "categories.json"
TRANSITIONS = "transitions.safetensors"
COLD_ITEMS = "cold_items.json"
ADDED_ITEMS = "added_items.json"
ENCODER_ONNX = "encoder.onnx"
SEARCH_DIR = "search"
CARD = "README.md"
CHECKPOINT_DIR = "checkpoints"
DATA_DIR = "data"
EVENTS = "data/events.parquet"
ITEMS = "data/items.parquet"
DATA_INFO = "data/info.json"
MANIFEST = "recsft_manifest.json"

# Every complete run has these (the manifest is written only once they are).
REQUIRED = (MODEL_CONFIG, WEIGHTS, TOKENIZER, TOKENIZER_CONFIG, RUN_CONFIG, METRICS, INDEX,
            INDEX_IDS, POPULARITY)
# Folders a manifest never lists: resume state is for the machine that wrote it.
UNLISTED_DIRS = (CHECKPOINT_DIR,)
# Listed, checked, but never pushed to a hub.
LOCAL_ONLY_DIRS = (DATA_DIR,)
