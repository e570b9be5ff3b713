"""A tiny untrained model, tokenizer, index and popularity, and a run folder of them."""

from __future__ import annotations

import torch

from recsft.modeling.bert4rec import Bert4RecModel
from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.configuration_rnn import GRU4RecConfig
from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.rnn import GRU4RecModel
from recsft.modeling.sasrec import SASRecModel
from recsft.retrieval.index import ItemIndex
from recsft.retrieval.popularity import Popularity
from recsft.tokenization import BehaviorTokenizer

N_ITEMS = 60
ITEMS = [f"i{n:02d}" for n in range(N_ITEMS)]
# Popularity falls with the item number: i00 is the most popular.
COUNTS = {item: float(N_ITEMS - n) for n, item in enumerate(ITEMS)}
MODELS = {"bert4rec": (Bert4RecConfig, Bert4RecModel), "sasrec": (SASRecConfig, SASRecModel),
          "gru4rec": (GRU4RecConfig, GRU4RecModel)}


def tiny_parts(model_type: str = "sasrec", max_length: int = 8):
    """An untrained model of ``model_type`` over :data:`ITEMS` and its tokenizer."""
    tokenizer = BehaviorTokenizer.from_sequences([ITEMS], event_types=["view", "cart"])
    config_class, model_class = MODELS[model_type]
    fields = dict(vocab_size=len(tokenizer), first_item_id=tokenizer.first_item_id,
                  num_token_types=tokenizer.num_token_types, max_position_embeddings=max_length,
                  pad_token_id=tokenizer.pad_token_id, mask_token_id=tokenizer.mask_token_id,
                  hidden_size=16, num_hidden_layers=2)
    if model_type != "gru4rec":
        fields.update(num_attention_heads=2, intermediate_size=32)
    torch.manual_seed(0)
    return model_class(config_class(**fields)).eval(), tokenizer


def save_run(directory, model_type: str = "sasrec") -> str:
    """Write a complete run folder (what ``Recommender.from_pretrained`` reads, a run config,
    empty metrics, the manifest) into ``directory``."""
    import json

    import yaml

    from recsft.config import RunConfig
    from recsft.runs import Run

    model, tokenizer = tiny_parts(model_type)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    ItemIndex(model.item_embeddings().detach().numpy(), tokenizer.item_ids).save(directory)
    Popularity(COUNTS).save(directory)
    config = RunConfig.from_dict({"name": "tiny", "model": {"model_type": model_type}})
    (directory / "run_config.yaml").write_text(yaml.safe_dump(config.to_dict()))
    (directory / "metrics.json").write_text(json.dumps({}))
    Run.seal(directory)
    return str(directory)
