"""The shipped ranking metrics agree with an independent implementation (ir-measures, which runs
trec_eval through pytrec_eval) to 1e-6 on random runs."""

import numpy as np
import pytest

from recsft.evaluation.metrics.ranking import ranking_metrics_per_user

ir_measures = pytest.importorskip("ir_measures")

KS = (1, 5, 10, 20)
# ours -> ir-measures measure (trec_eval: ndcg_cut, recip_rank, recall, P, map_cut, success)
MEASURES = {"ndcg": "nDCG", "mrr": "RR", "recall": "R", "precision": "P", "map": "AP",
            "hit_rate": "Success"}


@pytest.mark.parametrize("max_relevant", [1, 6], ids=["one target", "several relevant"])
def test_metrics_agree_with_ir_measures(max_relevant):
    rng = np.random.default_rng(max_relevant)
    n_users, n_items = 300, 200
    predictions, references, qrels, run = [], [], [], []
    for user in range(n_users):
        # Distinct ranked items (trec_eval ranks by score; ties are avoided), 0 to 30 of them.
        ranked = rng.permutation(n_items)[: int(rng.integers(0, 31))].tolist()
        relevant = rng.choice(n_items, size=int(rng.integers(1, max_relevant + 1)),
                              replace=False).tolist()
        if rng.random() < 0.5 and ranked:  # make hits frequent
            relevant[0] = ranked[int(rng.integers(0, len(ranked)))]
        predictions.append(ranked)
        references.append(relevant)
        qrels += [ir_measures.Qrel(f"u{user}", f"i{item}", 1) for item in relevant]
        run += [ir_measures.ScoredDoc(f"u{user}", f"i{item}", float(len(ranked) - rank))
                for rank, item in enumerate(ranked)]
    ours = ranking_metrics_per_user(predictions, references, KS)
    measures = [ir_measures.parse_measure(f"{name}@{k}") for name in MEASURES.values()
                for k in KS]
    theirs = {(m, q): v for m, q, v in
              ((r.measure, r.query_id, r.value) for r in ir_measures.iter_calc(measures, qrels,
                                                                              run))}
    compared = 0
    for ours_name, their_name in MEASURES.items():
        for k in KS:
            measure = ir_measures.parse_measure(f"{their_name}@{k}")
            # trec_eval leaves users without any retrieved item out; they score 0 everywhere.
            expected = np.array([theirs.get((measure, f"u{u}"), 0.0) for u in range(n_users)])
            np.testing.assert_allclose(ours[f"{ours_name}@{k}"], expected, atol=1e-6,
                                       err_msg=f"{ours_name}@{k}")
            compared += 1
    assert compared == len(MEASURES) * len(KS)
