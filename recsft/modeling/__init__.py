"""Sequence models; importing this package registers them with the transformers Auto classes."""

from transformers import AutoConfig, AutoModel

from recsft.modeling.bert4rec import Bert4RecModel
from recsft.modeling.configuration_bert4rec import Bert4RecConfig

AutoConfig.register(Bert4RecConfig.model_type, Bert4RecConfig, exist_ok=True)
AutoModel.register(Bert4RecConfig, Bert4RecModel, exist_ok=True)

__all__ = ["Bert4RecConfig", "Bert4RecModel"]
