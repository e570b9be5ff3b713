"""The model card of a run: ``README.md`` built with ``huggingface_hub.ModelCard`` from its
``metrics.json`` and ``config.json``: the Hub metadata (``library_name: recsft``,
``pipeline_tag``, tags, license where known, the metric names and a ``model-index`` of the test
results with their 95% intervals, :mod:`recsft.hub.model_index`), then what the model is, the
data and its terms, the evaluation protocol, the test metrics beside the most-popular baseline,
how it was trained, how to install recsft and load it.

Example:
    >>> from recsft.hub.card import render_model_card
    >>> text = render_model_card("runs/demo", repo_id="alice/recsft-demo")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recsft.fileio import atomic_write_text
from recsft.hub import model_index
from recsft.runs import Run

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

__all__ = ["CARD_FILE", "PIPELINE_TAG", "build_model_card", "install_commands",
           "render_model_card", "write_model_card"]

from recsft.runs.files import CARD as CARD_FILE
from recsft.runs.files import INDEX_IDS as INDEX_FILE
from recsft.runs.files import MANIFEST as MANIFEST_FILE
from recsft.runs.files import METRICS as METRICS_FILE
from recsft.runs.files import MODEL_CONFIG as CONFIG_FILE

# The Hub has no recommendation pipeline type; "other" is its type for models outside them.
PIPELINE_TAG = "other"
# The license of recsft itself, given to models trained on its synthetic data.
RECSFT_LICENSE = "apache-2.0"
_METRIC_ORDER = ("ndcg", "recall", "hit_rate", "mrr", "precision")
_MODEL_NAMES = {"bert4rec": "BERT4Rec", "sasrec": "SASRec", "gru4rec": "GRU4Rec",
                "lstm_attention": "LSTM-attention"}


# ----------------------------------------------------------------------------- model card


def build_model_card(run_dir: Run | str | os.PathLike, repo_id: str | None = None,
                     n_resamples: int = 1000, evaluation: dict[str, Any] | None = None
                     ) -> ModelCard:
    """The model card of a run folder, as a ``huggingface_hub.ModelCard``.

    Args:
        run_dir: A run folder written by ``recsft train``, or an opened
            :class:`~recsft.runs.Run` (its files are then not checked again).
        repo_id: Hub repository the card is for (``user/name``); used in the title and the
            loading examples, which show ``<user>/<repo>`` without it.
        n_resamples: Bootstrap resamples for the 95% intervals of the test metrics; the run is
            re-evaluated for them (from its saved events) unless ``evaluation`` is given. 0:
            no intervals.
        evaluation: A test-split result of :func:`recsft.runs.evaluate.evaluate_run` with
            intervals (what ``recsft evaluate --run R --output F`` writes), instead of
            re-evaluating.

    Returns:
        The card: ``card.data`` is its ``ModelCardData`` (``eval_results`` hold the
        ``model-index``), ``str(card)`` the ``README.md`` text.

    Raises:
        FileNotFoundError: ``metrics.json`` or ``config.json`` is missing (the message names it).
        ValueError: one of them is not valid JSON.
    """
    from huggingface_hub import ModelCard, ModelCardData

    run = run_dir if isinstance(run_dir, Run) else None
    run_dir = Path(run.path if run is not None else run_dir)
    record = _read_json(run_dir, METRICS_FILE)
    model_config = _read_json(run_dir, CONFIG_FILE)
    item_ids = _example_items(run_dir)
    run_config = record.get("config") or {}
    data_config = run_config.get("data") or {}
    stats = record.get("dataset") or {}
    dataset = _describe_dataset(data_config, stats)
    model_type = (record.get("training") or {}).get("model_type") or model_config.get(
        "model_type", "unknown")
    name = run_config.get("name") or run_dir.name
    repo = repo_id or "<user>/<repo>"
    intervals, note = model_index.card_intervals(run or str(run_dir), record, n_resamples,
                                                 evaluation)
    results = model_index.eval_results(record, model_index.dataset_identity(dataset, stats),
                                       intervals)
    metric_names = sorted({key.split("@")[0] for key in record.get("test") or {}},
                          key=_metric_rank)
    data = ModelCardData(
        library_name="recsft", pipeline_tag=PIPELINE_TAG,
        license=RECSFT_LICENSE if dataset["kind"] == "synthetic" else None,
        tags=["recsft", "recommendation", "sequential-recommendation", str(model_type),
              *dataset["tags"]],
        metrics=metric_names or None,
        model_name=(repo_id or name).split("/")[-1] if results else None,
        eval_results=results or None)

    sections = [
        f"# {repo_id or name}",
        _intro(model_type, model_config, record, item_count=len(item_ids)),
        _data_section(dataset, stats),
        _protocol_section(record.get("protocol") or {}, data_config),
        _results_section(record, intervals, note),
        _training_section(record, model_config),
        _usage_section(repo, item_ids[:3], _recsft_version(run_dir), dataset),
        _terms_section(dataset),
    ]
    body = "\n\n".join(section.strip() for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")


def render_model_card(run_dir: Run | str | os.PathLike, repo_id: str | None = None,
                      n_resamples: int = 1000, evaluation: dict[str, Any] | None = None
                      ) -> str:
    """The model card (``README.md`` text) of a run folder: :func:`build_model_card` as text.

    Returns:
        Markdown with a YAML front matter block (the Hub metadata and ``model-index``).
    """
    return str(build_model_card(run_dir, repo_id=repo_id, n_resamples=n_resamples,
                                evaluation=evaluation))


def write_model_card(run_dir: Run | str | os.PathLike, repo_id: str | None = None,
                     n_resamples: int = 1000, evaluation: dict[str, Any] | None = None) -> str:
    """Write the model card ``README.md`` into a run folder (atomically; replaces a card).

    Args:
        run_dir: A run folder written by ``recsft train`` (or an opened ``Run``).
        repo_id: Hub repository the card is for, used in its title and loading examples.
        n_resamples: Bootstrap resamples for the intervals (see :func:`build_model_card`).
        evaluation: A test-split evaluation result to take the intervals from.

    Returns:
        The path of the written ``README.md``.

    Raises:
        FileNotFoundError: the folder, ``metrics.json`` or ``config.json`` is missing.
        ValueError: ``metrics.json`` or ``config.json`` is not valid JSON.
    """
    folder = Path(run_dir.path if isinstance(run_dir, Run) else run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such run folder")
    path = folder / CARD_FILE
    atomic_write_text(path, render_model_card(run_dir, repo_id=repo_id,
                                              n_resamples=n_resamples, evaluation=evaluation))
    return str(path)


def install_commands(version: str | None, source_url: str | None) -> list[str]:
    """Shell lines that install recsft: the release that wrote the run from the package index,
    and from its source (a ``git+`` URL when the package metadata names its repository, else
    a checkout).

    Example:
        >>> install_commands("0.1.0", None)[0]
        'pip install "recsft==0.1.0"   # the release that wrote this run'
    """
    lines = [(f'pip install "recsft=={version}"' if version else "pip install recsft",
              "the release that wrote this run"),
             (f'pip install "recsft @ git+{source_url}"', "from its source repository")
             if source_url else ("pip install .", "in a checkout of the recsft source")]
    width = max(len(command) for command, _ in lines) + 3
    return [f"{command:<{width}}# {comment}" for command, comment in lines]


def _recsft_version(run_dir: Path) -> str | None:
    """The recsft version recorded in the run's manifest."""
    try:
        version = _read_json(run_dir, MANIFEST_FILE).get("recsft_version")
    except (FileNotFoundError, ValueError):
        return None
    return str(version) if version else None


def _source_url() -> str | None:
    """The repository of recsft's source, from its installed metadata (``Project-URL``)."""
    from importlib import metadata

    try:
        urls = metadata.metadata("recsft").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    found = {}
    for entry in urls:
        label, _, url = entry.partition(",")
        found[label.strip().lower()] = url.strip()
    for label in ("source", "repository", "source code", "code", "homepage"):
        url = found.get(label, "")
        if url.startswith("https://") and any(host in url for host in
                                              ("github.com", "gitlab.com", "codeberg.org")):
            return url
    return None


def _read_json(run_dir: Path, filename: str) -> dict[str, Any]:
    path = run_dir / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing from the run folder")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err


def _example_items(run_dir: Path) -> list[str]:
    """Item ids of the catalogue, in index order (empty when the index metadata is absent)."""
    path = run_dir / INDEX_FILE
    if not path.is_file():
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            return [str(item) for item in json.load(handle).get("item_ids", [])]
    except (json.JSONDecodeError, AttributeError):
        return []


def _metric_rank(name: str) -> tuple[int, str]:
    return (_METRIC_ORDER.index(name) if name in _METRIC_ORDER else len(_METRIC_ORDER), name)


def _metric_sort_key(key: str) -> tuple[int, tuple[int, str]]:
    base, _, k = key.partition("@")
    return (int(k) if k.isdigit() else 0, _metric_rank(base))


def _describe_dataset(data_config: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    """Name, description, terms and published statistics of the data a run was trained on."""
    source = str(data_config.get("source") or dataset.get("source") or "unknown")
    if source == "synthetic":
        return {
            "kind": "synthetic", "name": "synthetic shop (recsft generator)", "tags": [],
            "description": "the seeded synthetic shop built into recsft "
                           "(`recsft.data.synthetic`): sessions, a view → cart → buy funnel and "
                           "drifting interests",
            "terms": "The data is synthetic, generated by recsft; no third-party data terms "
                     "apply.",
        }
    from recsft.data.registry import REGISTRY

    spec = REGISTRY.get(source)
    if spec is not None:
        return {
            "kind": "named", "name": spec.name, "tags": [spec.name], "registry": spec.name,
            "title": spec.description,
            "description": f"{spec.description}" + (f" ({spec.homepage})" if spec.homepage
                                                     else ""),
            "terms": spec.license, "citation": spec.citation, "published": spec.published,
        }
    if source.startswith("<in-memory"):     # recsft.train(config, data=...)
        what = source.strip("<>").removeprefix("in-memory ").split(" ")[0]
        return {
            "kind": "memory", "name": f"in-memory events ({what})", "tags": [],
            "description": f"events handed to `recsft.train` in memory (a {what}; "
                           f"`{source}` in `metrics.json`)",
            "terms": "recsft does not know the terms of these events; they are their owner's.",
        }
    # A local file: only its name goes into the card, never the path on this machine.
    filename = Path(source).name
    fmt = data_config.get("format") or "auto"
    return {
        "kind": "file", "name": f"`{filename}`", "tags": [], "filename": filename,
        "description": f"a local event file, `{filename}` (reader: {fmt})",
        "terms": "recsft does not know the terms of this file; they are its owner's.",
    }


def _intro(model_type: str, model_config: dict[str, Any], record: dict[str, Any],
           item_count: int) -> str:
    shape = [f"model type `{model_config.get('model_type', model_type)}`"]
    for key, label in (("num_hidden_layers", "layers"), ("hidden_size", "hidden size"),
                       ("num_attention_heads", "attention heads"),
                       ("max_position_embeddings", "maximum input length")):
        if key in model_config:
            shape.append(f"{label} {model_config[key]}")
    items = item_count or (record.get("protocol") or {}).get("num_items")
    catalogue = f" over a catalogue of {items:,} items" if items else ""
    display = _MODEL_NAMES.get(model_type, model_type)
    return (
        f"A **{display}** sequential recommender{catalogue}, trained with **recsft**. Given a "
        "user's behaviour sequence (item ids, oldest first, with their event types such as "
        "view, cart, fav, buy), it scores every item of the catalogue as the next one.\n\n"
        f"The model is a transformers `PreTrainedModel` ({', '.join(shape)}), saved as "
        "safetensors. The repository also holds its tokenizer (`tokenizer.json`: item ids and "
        "event types), a FAISS index of the item embeddings with its item-id map "
        "(`item_index.faiss`, `item_index.json`) and the full metrics record (`metrics.json`)."
    )


def _data_section(dataset: dict[str, Any], stats: dict[str, Any]) -> str:
    lines = ["## Data", "", f"Trained on {dataset['description']}."]
    counts = [(label, stats.get(key)) for key, label in
              (("users", "users"), ("items", "items"), ("interactions", "interactions"))]
    if any(value is not None for _, value in counts):
        published = dataset.get("published") or {}
        lines += ["", "| | after cleaning |" + (" published |" if published else ""),
                  "|---|---:|" + ("---:|" if published else "")]
        for label, value in counts:
            row = f"| {label} | {_count(value)} |"
            if published:
                row += f" {_count(published.get(label))} |"
            lines.append(row)
        if published.get("source"):
            lines += ["", f"Published figures: {published['source']}."]
    steps = [step for step in stats.get("steps") or [] if isinstance(step, dict)]
    if steps:
        lines += ["", "Processing steps, in order: " + ", ".join(
            f"`{step.get('name')}`" + _params(step.get("params")) for step in steps) + "."]
    return "\n".join(lines)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ("–" if value is None else str(value))


def _params(params: Any) -> str:
    if not params:
        return ""
    return " (" + ", ".join(f"{key}={value}" for key, value in params.items()) + ")"


def _protocol_section(protocol: dict[str, Any], data_config: dict[str, Any]) -> str:
    if not protocol:
        return "## Evaluation protocol\n\nThe run recorded no evaluation protocol."
    filter_seen = protocol.get("filter_seen")
    rows = [
        ("split", protocol.get("split", "–")),
        ("ranking", "full: every item of the catalogue is scored (no sampled negatives)"
         if protocol.get("ranking") == "full" else protocol.get("ranking", "–")),
        ("filter_seen", "yes: items of the user's history are removed from the ranking"
         if filter_seen else "no" if filter_seen is not None else "–"),
        ("max_length", _count(protocol.get("max_length", data_config.get("max_length")))),
        ("users evaluated", _count(protocol.get("num_users"))),
        ("items ranked", _count(protocol.get("num_items"))),
    ]
    lines = ["## Evaluation protocol", "", "| | |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines)


def _results_section(record: dict[str, Any], intervals: dict[str, dict[str, float]],
                     note: str | None) -> str:
    test = record.get("test") or {}
    if not test:
        return "## Test results\n\nThe run recorded no test metrics."
    popular = ((record.get("baselines") or {}).get("most_popular") or {}).get("test") or {}
    lines = ["## Test results", "",
             "On the test targets, with the protocol above"
             + (", beside the most-popular baseline (items ranked by their training "
                "interactions, same protocol):" if popular else ":"), ""]
    lines += ["| metric | this model |" + (" 95% CI |" if intervals else "")
              + (" most popular |" if popular else ""),
              "|---|---:|" + ("---|" if intervals else "") + ("---:|" if popular else "")]
    for key in sorted(test, key=_metric_sort_key):
        row = f"| {key} | {_number(test[key])} |"
        if intervals:
            ci = intervals.get(key)
            row += (f" [{ci['ci95_low']:.4f}, {ci['ci95_high']:.4f}] |" if ci else " – |")
        if popular:
            row += f" {_number(popular.get(key))} |"
        lines.append(row)
    lines.append("")
    if intervals:
        resamples = next(iter(intervals.values()))["n_resamples"]
        lines.append("The intervals are 95% percentile bootstraps over the evaluated users "
                     f"({resamples:,} resamples, seed 0) of a re-evaluation that reproduced "
                     "these figures; they show the uncertainty from the choice of test users, "
                     "not from training (one run, one seed).")
    elif note:
        lines.append(note)
    lines += ["", "Figures from a single run; they are not comparable with metrics computed "
              "against sampled negatives or without filtering the history. The metadata of "
              "this card holds NDCG, Recall and MRR as a `model-index` (task "
              f"`{model_index.TASK_TYPE}`), which the Hub shows as evaluation results."]
    return "\n".join(lines)


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "–"


def _training_section(record: dict[str, Any], model_config: dict[str, Any]) -> str:
    training = record.get("training") or {}
    settings = (record.get("config") or {}).get("training") or {}
    environment = record.get("environment") or {}
    lines = ["## Training", ""]
    facts = [
        ("epochs run", training.get("epochs_run")),
        ("best epoch (validation)", training.get("best_epoch")),
        ("metric for the best epoch", settings.get("metric_for_best")),
        ("training time", f"{training['train_seconds']} s" if "train_seconds" in training
         else None),
        ("device", training.get("device")),
        ("processes", training.get("num_processes")),
        ("mixed precision", training.get("mixed_precision")),
    ]
    metric = settings.get("metric_for_best")
    valid = record.get("valid") or {}
    if metric in valid:
        facts.append((f"best validation {metric}", _number(valid[metric])))
    for key in ("batch_size", "learning_rate", "weight_decay", "scheduler", "mask_prob", "seed"):
        facts.append((key.replace("_", " "), settings.get(key)))
    lines += [f"- {label}: {value}" for label, value in facts if value is not None]
    versions = ", ".join(f"{key} {value}" for key, value in environment.items()
                         if key in ("python", "torch", "transformers", "accelerate"))
    if versions:
        lines.append(f"- versions: {versions}")
    lines += ["", "The resolved run config is in `run_config.yaml` and `metrics.json`; the "
              "per-epoch log in `training_log.jsonl`."]
    return "\n".join(lines)


def _usage_section(repo: str, items: list[str], version: str | None,
                   dataset: dict[str, Any]) -> str:
    history = ", ".join(f'"{item}"' for item in items) or '"<item id>", "<item id>"'
    install = "\n".join(install_commands(version, _source_url()))
    evaluable = {
        "synthetic": "regenerates the synthetic data from its seed (the events are not in the "
                     "repository) and reproduces the test figures above",
        "named": f"reads the {dataset['name']} data, which is not in the repository: recsft "
                 "downloads it where its terms allow, else point it at your copy (see "
                 "recsft's docs/datasets.md)",
        "file": f"needs your copy of {dataset['name']}, which is not in the repository: pass "
                "`--data-config CONFIG`, a run config whose `data.source` names it",
        "memory": "needs the events, which are not in the repository: pass `--data-config "
                  "CONFIG`, a run config whose `data.source` names a file of them",
    }[dataset["kind"]]
    return f"""## How to use

Install recsft, the package that trained the model:

```bash
{install}
```

Importing `recsft` registers the model and tokenizer with the transformers Auto classes, so no
`trust_remote_code` is needed:

```python
import recsft  # registers the recsft Auto classes
from transformers import AutoModel, AutoTokenizer

model = AutoModel.from_pretrained("{repo}")
tokenizer = AutoTokenizer.from_pretrained("{repo}")
```

Top-k recommendations: `Recommender.from_pretrained` takes the repository id, downloads the
run's files once into the Hugging Face cache (safetensors, never a pickle file) and checks each
against the run's manifest (`recsft_manifest.json`):

```python
import recsft

rec = recsft.Recommender.from_pretrained("{repo}")
rec.recommend([{history}], k=10)  # [(item_id, score), ...], history items excluded
```

From the command line:

```bash
recsft recommend --run {repo} --history {",".join(items) or "<item id>,<item id>"} --k 10
recsft evaluate --run {repo}
```

`recsft evaluate` {evaluable}."""


def _terms_section(dataset: dict[str, Any]) -> str:
    lines = ["## Data terms", "", dataset["terms"]]
    if dataset.get("citation"):
        lines += ["", f"Cite: {dataset['citation']}."]
    if dataset["kind"] != "synthetic":
        lines += ["", "The training data is not in this repository, but the tokenizer and the "
                  "item index list the dataset's item ids and the weights are learned from it: "
                  "check that these terms allow publishing them, and follow them when you use "
                  "the model."]
    return "\n".join(lines)
