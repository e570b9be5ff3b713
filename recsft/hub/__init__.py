"""Runs on the Hugging Face Hub: the model card (:mod:`recsft.hub.card`) and the upload of
exactly a run manifest's files (:mod:`recsft.hub.push`)."""

from recsft.hub.card import CARD_FILE, render_model_card, write_model_card
from recsft.hub.push import HubError, files_to_push, push_to_hub

__all__ = ["CARD_FILE", "HubError", "files_to_push", "push_to_hub", "render_model_card",
           "write_model_card"]
