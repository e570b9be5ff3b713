"""Search events: extraction from a query column, the Amazon product-search construction and
the JDsearch reader, on tiny hand-built and seeded data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsft.data.events import EventLog, EventLogError
from recsft.data.synthetic import SyntheticConfig, generate_events
from recsft.errors import RecsftError
from recsft.search.constructions import (
    category_query,
    product_search_events,
    scientific_category_path,
    scientific_product_search,
)
from recsft.search.events import SearchEvents, leave_last_out, search_events
from recsft.search.jdsearch import read_jdsearch


def _log(rows, source="<test>"):
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp", "event_type", "query"])
    return EventLog(frame, source=source)


def _hand_log():
    S = "search"
    return _log([
        ("u", "a", 0, "view", None),
        ("u", "b", 100, S, "red mug"),
        ("u", "b", 105, "view", None),
        ("u", "c", 110, "cart", None),
        ("u", "b", 111, "view", None),          # repeated click: one target
        ("u", "d", 120, S, "  tea pot "),
        ("u", "d", 125, "buy", None),
        ("u", "e", 5000, "view", None),         # new session (gap > 1800): not a target
        ("u", "", 6000, S, "spoon"),            # search with no item of its own
        ("u", "f", 6010, "view", None),
        ("v", "x", 7000, S, "lamp"),            # search without targets (session ends)
        ("v", "y", 9000, "view", None),
    ])


def test_targets_within_session_before_next_search_and_history_before():
    events = search_events(_hand_log(), min_searches=3)
    assert events.queries == ["red mug", "tea pot", "spoon", "lamp"]
    assert events.targets == [["b", "c"], ["d"], ["f"], ["x"]]
    assert events.histories == [["a"], ["a", "b", "c", "b"], ["a", "b", "c", "b", "d", "e"], []]
    assert events.history_event_types[1] == ["view", "view", "cart", "view"]
    assert events.timestamps.tolist() == [100, 120, 6000, 7000]
    assert events.splits == ["train", "valid", "test", "train"]
    assert events.metadata["searches_without_targets"] == 0


def test_dropped_search_without_targets_and_max_length():
    log = _log([("v", "", 0, "search", "lamp"), ("v", "y", 9000, "view", None),
                ("v", "z", 9001, "view", None), ("v", "w", 9002, "search", "rug")])
    events = search_events(log, max_length=1, min_searches=1)
    assert events.queries == ["rug"]
    assert events.histories == [["z"]]
    assert events.splits == ["test"]
    assert events.metadata["searches_without_targets"] == 1


def test_time_order_not_file_order_and_ties_keep_file_order():
    log = _log([("u", "c", 20, "view", None), ("u", "s", 10, "search", "q"),
                ("u", "a", 5, "view", None), ("u", "b", 20, "view", None)])
    events = search_events(log, min_searches=1)
    assert events.histories == [["a"]]
    assert events.targets == [["s", "c", "b"]]


def test_session_gap_parameter():
    log = _log([("u", "s", 0, "search", "q"), ("u", "a", 100, "view", None)])
    assert search_events(log, session_gap=50, min_searches=1).targets == [["s"]]
    assert search_events(log, session_gap=100, min_searches=1).targets == [["s", "a"]]


def test_errors_on_bad_input():
    no_query = EventLog(pd.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": [1]}),
                        source="log.csv")
    with pytest.raises(EventLogError, match=r"log.csv, column 'query'"):
        search_events(no_query)
    with pytest.raises(EventLogError, match="no search row"):
        search_events(_log([("u", "a", 0, "view", None), ("u", "b", 1, "view", " ")]))
    with pytest.raises(RecsftError, match="max_length"):
        search_events(_hand_log(), max_length=0)
    with pytest.raises(RecsftError, match="session_gap"):
        search_events(_hand_log(), session_gap=-1)
    with pytest.raises(RecsftError, match="min_searches"):
        leave_last_out(["a"], min_searches=0)
    with pytest.raises(RecsftError, match="field lengths"):
        SearchEvents(["u"], [], np.zeros(1), [[]], [[]], [["a"]], ["train"])
    with pytest.raises(RecsftError, match="split labels"):
        SearchEvents(["u"], ["q"], np.zeros(1), [[]], [[]], [["a"]], ["dev"])


def test_leave_last_out_per_user():
    labels = leave_last_out(["a", "b", "a", "a", "b", "c"], min_searches=2)
    assert labels == ["train", "valid", "valid", "test", "test", "train"]


def test_synthetic_shop_searches_match_the_log():
    data = generate_events(SyntheticConfig(num_users=40, num_items=80, num_categories=4,
                                           search_rate=0.6, seed=5))
    frame = data.events
    events = search_events(EventLog(frame, source="synthetic"), max_length=5)
    rows = frame[frame["event_type"] == "search"]
    assert len(events) == len(rows)
    assert events.metadata["searches_without_targets"] == 0
    per_user = {u: g.sort_values("timestamp", kind="stable") for u, g in frame.groupby("user_id")}
    for i in range(len(events)):
        user, t = events.user_ids[i], int(events.timestamps[i])
        g = per_user[user]
        search = g[(g["timestamp"] == t) & (g["event_type"] == "search")].iloc[0]
        assert events.queries[i] == search["query"]
        assert events.targets[i][0] == search["item_id"]  # the item the search led to
        behaviour = g[g["event_type"] != "search"]
        before = behaviour[behaviour["timestamp"] < t]
        assert events.histories[i] == before["item_id"].tolist()[-5:]
        # Targets: behaviour after the search, before the next search and the next session.
        later = g[g["timestamp"] > t]
        gaps = np.diff(np.r_[t, later["timestamp"].to_numpy()])
        stop = np.flatnonzero((gaps > 1800) | (later["event_type"] == "search").to_numpy())
        window = later.iloc[: stop[0] if len(stop) else len(later)]
        assert set(events.targets[i]) == {search["item_id"], *window["item_id"]}
    # No leak: per user, every train search (and its targets) comes before valid, before test.
    for user in set(events.user_ids):
        idx = [i for i, u in enumerate(events.user_ids) if u == user]
        labels = [events.splits[i] for i in idx]
        times = events.timestamps[idx]
        assert list(times) == sorted(times)
        if len(idx) >= 3:
            assert labels == ["train"] * (len(idx) - 2) + ["valid", "test"]
        else:
            assert labels == ["train"] * len(idx)
    counts = events.counts()
    assert counts["test"]["searches"] == counts["valid"]["searches"] > 0
    assert sum(c["searches"] for c in counts.values()) == len(events)
    train = events.select("train")
    assert set(train.splits) == {"train"} and len(train) == counts["train"]["searches"]


# ---- the Amazon product-search construction -------------------------------------------------

def _items():
    return pd.DataFrame({
        "item_id": ["p1", "p2", "p3", "p4", "p5"],
        "categories": ["Tools & Home > Power Tools > Drills", "Lab Supplies of the Lab",
                       "Tools & Home > Hand Tools", None, "Lab Tubing and Tubing Clamps"],
    })


def _purchases():
    rows = [("u1", "p1", 1, "buy"), ("u1", "p2", 2, "buy"), ("u1", "p4", 3, "buy"),
            ("u1", "p3", 4, "buy"), ("u1", "p5", 5, "buy"), ("u1", "p9", 6, "view"),
            ("u2", "p2", 1, "buy"), ("u2", "p3", 2, "buy")]
    return EventLog(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp",
                                                "event_type"]), source="buys.csv")


def test_category_query_words():
    assert category_query("Tools & Home > Power Tools > Drills") == "tools home power drills"
    assert category_query("Lab Supplies of the Lab") == "lab supplies"
    assert category_query("ＬＡＢ tubing, TUBING!") == "lab tubing"
    assert category_query("") == ""
    assert category_query("the of and") == ""


def test_product_search_construction():
    events = product_search_events(_purchases(), _items(), "categories", event_types={"buy"})
    assert events.user_ids == ["u1", "u1", "u1", "u2"]
    assert events.queries == ["lab supplies", "tools home hand", "lab tubing clamps",
                              "tools home hand"]
    assert events.targets == [["p2"], ["p3"], ["p5"], ["p3"]]
    assert events.histories[:3] == [["p1"], ["p1", "p2", "p4"], ["p1", "p2", "p4", "p3"]]
    assert events.splits == ["train", "valid", "test", "train"]
    assert events.metadata["purchases_without_category"] == 1  # p4 has no category path
    short = product_search_events(_purchases(), _items(), event_types={"buy"}, max_length=2)
    assert short.histories[2] == ["p4", "p3"]
    with_views = product_search_events(_purchases(), _items(), event_types=None)
    assert with_views.metadata["purchases_without_category"] == 2  # p9 is not in the table


def test_product_search_category_function_and_errors():
    items = _items().assign(text=lambda f: f["categories"].fillna("") + " | x")
    by_function = product_search_events(_purchases(), items,
                                        lambda row: row["text"].split(" | ")[0])
    assert by_function.queries[0] == "lab supplies"
    with pytest.raises(EventLogError, match=r"items.csv, column 'path'"):
        product_search_events(_purchases(), _items(), "path", source="items.csv")
    with pytest.raises(EventLogError, match="'item_id'"):
        product_search_events(_purchases(), _items().rename(columns={"item_id": "id"}))
    one_each = EventLog(pd.DataFrame({"user_id": ["a", "b"], "item_id": ["p1", "p2"],
                                      "timestamp": [1, 1]}), source="one.csv")
    with pytest.raises(EventLogError, match="one.csv: no product search"):
        product_search_events(one_each, _items())


def test_scientific_category_path():
    text = ("Mr. Heater Kit 3/8. Industrial & Scientific Hydraulics, Pneumatics & Plumbing "
            "Fittings. Sterling Seal & Supply, Inc. (STCC).")
    assert scientific_category_path(text) == ("Industrial & Scientific Hydraulics, "
                                              "Pneumatics & Plumbing Fittings")
    assert scientific_category_path("Tubing - 10 feet. . Learn To Brew LLC.") == ""
    assert category_query(scientific_category_path(text)) == (
        "industrial scientific hydraulics pneumatics plumbing fittings")


def test_scientific_product_search_from_a_folder(tmp_path):
    (tmp_path / "Scientific.text").write_text(
        "item_id:token\ttext:token_seq\n"
        "A1\tRoll. Industrial & Scientific Abrasive Products Sanding Rolls. Porter.\n"
        "A2\tGlue. Industrial & Scientific Tapes, Adhesives & Sealants. 3M.\n"
        "A3\tFan. . TPI.\n", encoding="utf-8")
    (tmp_path / "Scientific.test.inter").write_text(
        "user_id:token\titem_id_list:token_seq\titem_id:token\n"
        "0\tA1 A3 A2\tA1\n1\tA2 A1\tA2\n", encoding="utf-8")
    events = scientific_product_search(tmp_path)
    assert len(set(events.user_ids)) == 2
    assert events.queries[:3] == ["industrial scientific tapes adhesives sealants",
                                  "industrial scientific abrasive products sanding rolls",
                                  "industrial scientific abrasive products sanding rolls"]
    assert events.targets[1] == ["A1"] and events.histories[1] == ["A1", "A3", "A2"]
    assert events.splits == ["valid", "test", "valid", "test"]
    assert events.metadata["purchases_without_category"] == 1


# ---- JDsearch ------------------------------------------------------------------------------

X = "\x18"


def _jd_line(query=f"12{X}32", cands="456_457_789", labels="3.0_0.0_1.0",
             hq=f"323{X}328_323{X}328_-1_12{X}54", hw="889_256_345_111",
             ht="ORD_CLICK_CART_FLW", times="0_12_4_5_7"):
    return "\t".join([query, cands, labels, hq, hw, ht, times]) + "\n"


def test_read_jdsearch(tmp_path):
    path = tmp_path / "release_data.txt"
    path.write_text(_jd_line() + "\n" + _jd_line(labels="0.0_0.0_0.0", hq="-1_5_-1_5",
                                                 ht="CLICK_CLICK_CLICK_CLICK"),
                    encoding="utf-8")
    events = read_jdsearch(path, max_length=3)
    assert events.user_ids == ["1", "1", "1", "3", "3"]
    assert events.queries == ["323 328", "12 54", "12 32", "5", "5"]
    assert events.targets == [["889", "256"], ["111"], ["456", "789"], ["256"], ["111"]]
    assert events.histories == [[], ["889", "256", "345"], ["256", "345", "111"],
                                ["889"], ["889", "256", "345"]]
    assert events.history_event_types[1] == ["buy", "click", "cart"]
    assert events.timestamps.tolist() == [0, 21, 28, 12, 21]
    assert events.splits == ["train", "valid", "test", "train", "valid"]
    assert events.candidates[2] == ["456", "457", "789"]
    assert events.candidate_labels[2] == [3.0, 0.0, 1.0]
    assert events.candidates[0] == []
    assert events.metadata["lines_without_positive_label"] == 1


@pytest.mark.parametrize("line, field", [
    ("a\tb\n", "line 1: 2 tab-separated fields"),
    (_jd_line(labels="1.0_0.0"), "column 'candidate_label_list'"),
    (_jd_line(labels="1.0_x_0.0"), "label 'x'"),
    (_jd_line(hw="889_256_345"), "column 'history_qry_list'"),
    (_jd_line(ht="ORD_CLICK_CART_VIEW"), "interaction level 'VIEW'"),
    (_jd_line(times="0_12_4_5"), "column 'history_time_list'"),
    (_jd_line(times="0_12_-4_5_7"), "interval '-4'"),
    (_jd_line(query=f"12{X}"), "column 'query'"),
    (_jd_line(hw="889__345_111"), "column 'history_wid_list'"),
])
def test_read_jdsearch_errors(tmp_path, line, field):
    path = tmp_path / "bad.txt"
    path.write_text(line, encoding="utf-8")
    with pytest.raises(EventLogError, match="bad.txt, line 1") as caught:
        read_jdsearch(path)
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_read_jdsearch_missing_or_empty(tmp_path):
    with pytest.raises(EventLogError, match="no such file"):
        read_jdsearch(tmp_path / "absent.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text(_jd_line(labels="0.0_0.0_0.0", hq="-1_-1_-1_-1"), encoding="utf-8")
    with pytest.raises(EventLogError, match="no search"):
        read_jdsearch(empty)
