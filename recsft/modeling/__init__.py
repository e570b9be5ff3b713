"""Sequence models.

Importing this package registers them with the transformers Auto classes, so that
``AutoConfig`` / ``AutoModel`` / ``AutoTokenizer.from_pretrained(run_dir)`` load a recsft run
folder without ``trust_remote_code``. :data:`MODEL_TYPES` maps the ``model.model_type`` of a run
config to its config and model classes.
"""

from transformers import AutoConfig, AutoModel, AutoTokenizer

from recsft.modeling.bert4rec import Bert4RecModel
from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.modeling.configuration_rnn import GRU4RecConfig, LSTMAttentionConfig
from recsft.modeling.configuration_sasrec import SASRecConfig
from recsft.modeling.rnn import GRU4RecModel, LSTMAttentionModel
from recsft.modeling.sasrec import SASRecModel
from recsft.tokenization import BehaviorTokenizer

MODEL_TYPES = {
    "bert4rec": (Bert4RecConfig, Bert4RecModel),
    "sasrec": (SASRecConfig, SASRecModel),
    "gru4rec": (GRU4RecConfig, GRU4RecModel),
    "lstm_attention": (LSTMAttentionConfig, LSTMAttentionModel),
}

for _config, _model in MODEL_TYPES.values():
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    AutoTokenizer.register(_config, fast_tokenizer_class=BehaviorTokenizer, exist_ok=True)

__all__ = [
    "MODEL_TYPES",
    "Bert4RecConfig",
    "Bert4RecModel",
    "GRU4RecConfig",
    "GRU4RecModel",
    "LSTMAttentionConfig",
    "LSTMAttentionModel",
    "SASRecConfig",
    "SASRecModel",
]
