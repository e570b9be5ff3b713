"""Runs on the Hugging Face Hub: the model card (:mod:`recsft.hub.card`, its ``model-index``
in :mod:`recsft.hub.model_index`), the upload of exactly a run manifest's files
(:mod:`recsft.hub.push`) and the download of a pushed run by its repository id
(:mod:`recsft.hub.download`)."""

from recsft.hub.card import CARD_FILE, build_model_card, render_model_card, write_model_card
from recsft.hub.download import resolve_run
from recsft.hub.push import HubError, files_to_push, push_to_hub

__all__ = ["CARD_FILE", "HubError", "build_model_card", "files_to_push", "push_to_hub",
           "render_model_card", "resolve_run", "write_model_card"]
