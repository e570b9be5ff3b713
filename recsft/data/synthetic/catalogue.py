"""The synthetic shop's catalogue: categories, product rings, popularity, titles and queries.

Step 1 of the generative story (see :mod:`recsft.data.synthetic`). ``num_items`` items are
spread over ``num_categories`` categories; the items of each category form a ring (a product
line) in a hidden random order unrelated to the item ids, each item has a Zipf popularity
weight within its category, independent of its ring position, and a title
``"<adjective> <colour> <noun> (<category name>)"`` whose noun belongs to the category.
Search queries (step 6) are written from these titles; :func:`_query_vocabulary` lists every
possible query and :meth:`_Catalogue.query_codes` indexes it.

Example:
    >>> import numpy as np
    >>> from recsft.data.synthetic.catalogue import _Catalogue
    >>> from recsft.data.synthetic.config import SyntheticConfig
    >>> config = SyntheticConfig(num_items=12, num_categories=3)
    >>> catalogue = _Catalogue(config, np.random.default_rng(0))
    >>> list(catalogue.items_frame().columns)
    ['item_id', 'category', 'title']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsft.data.synthetic.config import SyntheticConfig

_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("apparel", ("shirt", "jacket", "hoodie", "dress", "scarf")),
    ("footwear", ("sneakers", "boots", "sandals", "loafers", "slippers")),
    ("electronics", ("headphones", "charger", "speaker", "cable", "power bank")),
    ("kitchen", ("pan", "knife set", "kettle", "mug", "cutting board")),
    ("beauty", ("lipstick", "face cream", "serum", "brush set", "perfume")),
    ("toys", ("puzzle", "building set", "plush bear", "toy car", "board game")),
    ("sports", ("yoga mat", "dumbbell", "water bottle", "jump rope", "tennis racket")),
    ("books", ("novel", "cookbook", "notebook", "comic", "travel guide")),
    ("garden", ("planter", "hose", "seed kit", "trowel", "watering can")),
    ("home decor", ("lamp", "cushion", "vase", "picture frame", "rug")),
    ("jewelry", ("necklace", "ring", "bracelet", "earrings", "watch")),
    ("pet supplies", ("dog leash", "cat toy", "pet bed", "food bowl", "collar")),
    ("grocery", ("coffee beans", "green tea", "olive oil", "granola", "honey")),
    ("office", ("desk organizer", "pen set", "stapler", "desk lamp", "planner")),
    ("automotive", ("car charger", "seat cover", "floor mat", "phone mount", "wax")),
    ("health", ("vitamins", "thermometer", "first aid kit", "massager", "scale")),
    ("music", ("guitar strings", "ukulele", "capo", "drumsticks", "tuner")),
    ("baby", ("bib", "pacifier", "baby blanket", "rattle", "sippy cup")),
    ("tools", ("screwdriver", "drill bits", "tape measure", "hammer", "wrench")),
    ("outdoor", ("tent", "backpack", "sleeping bag", "headlamp", "camp stove")),
)

_ADJECTIVES: tuple[str, ...] = (
    "soft",
    "classic",
    "compact",
    "deluxe",
    "eco",
    "premium",
    "slim",
    "sturdy",
    "vintage",
    "modern",
    "handmade",
    "lightweight",
    "smart",
    "cozy",
    "travel",
    "pro",
)

_COLOURS: tuple[str, ...] = (
    "black",
    "white",
    "blue",
    "red",
    "green",
    "grey",
    "beige",
    "navy",
    "pink",
    "olive",
)

#: Category base names whose items are consumables (bought again, see ``repeat_buy_rate``).
_CONSUMABLES: frozenset[str] = frozenset({"beauty", "grocery", "pet supplies", "health", "baby"})


def _ids(prefix: str, count: int, min_width: int) -> np.ndarray:
    """Return zero-padded string ids ``prefix0000...`` as an object array."""
    width = max(min_width, len(str(count - 1)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(count)], dtype=object)


def _category_names(num_categories: int) -> list[str]:
    """Readable category names, suffixed with a number once the word list runs out."""
    names = []
    for c in range(num_categories):
        base, _ = _CATEGORY_WORDS[c % len(_CATEGORY_WORDS)]
        rnd = c // len(_CATEGORY_WORDS)
        names.append(base if rnd == 0 else f"{base} {rnd + 1}")
    return names


def _query_vocabulary(category_names: list[str]) -> list[str]:
    """Every possible search query, in the order that :meth:`_Catalogue.query_codes` indexes."""
    nouns = [noun for _, words in _CATEGORY_WORDS for noun in words]
    vocab = list(nouns)
    vocab += [f"{colour} {noun}" for colour in _COLOURS for noun in nouns]
    vocab += [f"{adj} {noun}" for adj in _ADJECTIVES for noun in nouns]
    vocab += [
        f"{adj} {colour} {noun}" for adj in _ADJECTIVES for colour in _COLOURS for noun in nouns
    ]
    return vocab + category_names


class _Catalogue:
    """Hidden catalogue structure used while sampling, and the item table it implies.

    Items are laid out in *slots* sorted by category; within a category, slot order is the
    ring order. ``item_of_slot`` maps slots to item indices (random, so item ids carry no
    information about the ring).

    Random draws, in order (they continue the shop's main generator, so their order is part
    of the output): the slot permutation, one rank permutation per category (popularity), then
    every item's adjective, colour and noun.

    Attributes:
        size: Items per category, shape ``(num_categories,)``.
        start: First slot of each category, shape ``(num_categories,)``.
        end: One past the last slot of each category, shape ``(num_categories,)``.
        cat_of_slot: Category of each slot, shape ``(num_items,)``.
        item_of_slot: Item index of each slot, shape ``(num_items,)``.
        pop_key: Cumulative popularity keys; those of category ``c`` lie in ``(c, c + 1]``,
            shape ``(num_items,)``.
        weight: Popularity weight of each slot, summing to 1 within each category,
            shape ``(num_items,)``.
        item_cat: Category of each item index, shape ``(num_items,)``.
        adjective: Each item's index into the adjectives, shape ``(num_items,)``.
        colour: Each item's index into the colours, shape ``(num_items,)``.
        noun: Each item's index into its category's nouns, shape ``(num_items,)``.
        names: Readable category names, ``num_categories`` of them.
        cat_ids: Category ids ``"c00"``, ..., shape ``(num_categories,)``.
        item_ids: Item ids ``"i0000"``, ..., shape ``(num_items,)``.
        consumable: Whether each category's items are consumables, shape
            ``(num_categories,)``.
    """

    def __init__(self, config: SyntheticConfig, rng: np.random.Generator) -> None:
        """Draw the catalogue from ``rng``.

        Args:
            config: Generator parameters (only the catalogue ones are read).
            rng: The shop's main generator, advanced by the draws listed above.
        """
        n_items, n_cat = config.num_items, config.num_categories
        sizes = np.full(n_cat, n_items // n_cat, dtype=np.int64)
        sizes[: n_items % n_cat] += 1
        self.size = sizes
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.end = self.start + sizes
        self.cat_of_slot = np.repeat(np.arange(n_cat), sizes)
        self.item_of_slot = rng.permutation(n_items)

        # Zipf popularity within each category, independent of the ring position.
        cdf_parts, weight_parts = [], []
        for c in range(n_cat):
            ranks = rng.permutation(int(sizes[c])) + 1
            weights = ranks.astype(float) ** -config.popularity_exponent
            cdf = np.cumsum(weights) / weights.sum()
            cdf[-1] = 1.0
            cdf_parts.append(c + cdf)
            weight_parts.append(weights / weights.sum())
        self.weight = np.concatenate(weight_parts)
        # Keys of category c lie in (c, c + 1], so a draw for category c is a single
        # searchsorted over the whole catalogue.
        self.pop_key = np.concatenate(cdf_parts)

        # Title words.
        self.item_cat = np.empty(n_items, dtype=np.int64)
        self.item_cat[self.item_of_slot] = self.cat_of_slot
        self.adjective = rng.integers(len(_ADJECTIVES), size=n_items)
        self.colour = rng.integers(len(_COLOURS), size=n_items)
        self.noun = rng.integers(len(_CATEGORY_WORDS[0][1]), size=n_items)

        self.names = _category_names(n_cat)
        self.cat_ids = _ids("c", n_cat, 2)
        self.item_ids = _ids("i", n_items, 4)
        self.consumable = np.array(
            [
                _CATEGORY_WORDS[c % len(_CATEGORY_WORDS)][0] in _CONSUMABLES
                for c in range(n_cat)
            ]
        )

    def popular(self, rng: np.random.Generator, cats: np.ndarray) -> np.ndarray:
        """Popularity-weighted slot draw inside each of ``cats``.

        Args:
            rng: Generator; one uniform draw per entry of ``cats``.
            cats: Category indices, shape ``(n,)``.

        Returns:
            Slots, shape ``(n,)``.
        """
        u = rng.random(cats.shape[0])
        slots = np.searchsorted(self.pop_key, cats + u, side="right")
        return np.clip(slots, self.start[cats], self.end[cats] - 1)

    def successor(self, slots: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Slot ``offsets`` steps further along the ring of each slot's category.

        Args:
            slots: Slots, shape ``(n,)``.
            offsets: Steps ahead, shape ``(n,)``.

        Returns:
            Slots, shape ``(n,)``.
        """
        cats = self.cat_of_slot[slots]
        start, size = self.start[cats], self.size[cats]
        return start + (slots - start + offsets) % size

    def items_frame(self) -> pd.DataFrame:
        """The catalogue table: ``item_id``, ``category`` and ``title``, one row per item."""
        names = self.names
        titles = [
            f"{_ADJECTIVES[a]} {_COLOURS[b]} "
            f"{_CATEGORY_WORDS[c % len(_CATEGORY_WORDS)][1][n]} ({names[c]})"
            for a, b, n, c in zip(self.adjective, self.colour, self.noun, self.item_cat)
        ]
        return pd.DataFrame(
            {
                "item_id": self.item_ids,
                "category": self.cat_ids[self.item_cat],
                "title": np.array(titles, object),
            }
        )

    def query_codes(self, items: np.ndarray, form: np.ndarray) -> np.ndarray:
        """Vocabulary index of the query of ``form`` written from each item's title.

        Args:
            items: Item indices, shape ``(n,)``.
            form: Query form of each (0 noun, 1 colour + noun, 2 adjective + noun,
                3 adjective + colour + noun, 4 category name), shape ``(n,)``.

        Returns:
            Indices into :func:`_query_vocabulary` of the catalogue's category names,
            shape ``(n,)``.
        """
        per_cat = len(_CATEGORY_WORDS[0][1])
        n_noun, n_col, n_adj = len(_CATEGORY_WORDS) * per_cat, len(_COLOURS), len(_ADJECTIVES)
        cat = self.item_cat[items]
        noun = (cat % len(_CATEGORY_WORDS)) * per_cat + self.noun[items]
        adj, col = self.adjective[items], self.colour[items]
        base1 = n_noun
        base2 = base1 + n_col * n_noun
        base3 = base2 + n_adj * n_noun
        base4 = base3 + n_adj * n_col * n_noun
        return np.select(
            [form == 0, form == 1, form == 2, form == 3],
            [
                noun,
                base1 + col * n_noun + noun,
                base2 + adj * n_noun + noun,
                base3 + (adj * n_col + col) * n_noun + noun,
            ],
            default=base4 + cat,
        )
