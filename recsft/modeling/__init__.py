"""Sequence models.

Importing this package registers them with the transformers Auto classes, so that
``AutoConfig`` / ``AutoModel`` / ``AutoTokenizer.from_pretrained(run_dir)`` load a recsft run
folder without ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoModel, AutoTokenizer

from recsft.modeling.bert4rec import Bert4RecModel
from recsft.modeling.configuration_bert4rec import Bert4RecConfig
from recsft.tokenization import BehaviorTokenizer

AutoConfig.register(Bert4RecConfig.model_type, Bert4RecConfig, exist_ok=True)
AutoModel.register(Bert4RecConfig, Bert4RecModel, exist_ok=True)
AutoTokenizer.register(Bert4RecConfig, fast_tokenizer_class=BehaviorTokenizer, exist_ok=True)

__all__ = ["Bert4RecConfig", "Bert4RecModel"]
