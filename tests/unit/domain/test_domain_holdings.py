"""Holdings: the read-only order → units map that stock and credit fold into."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.values import Holdings, adjusted, no_holdings

KEYS = [f"order-{n}" for n in range(150)]  # more than COMPACT_AT: versions get compacted
MOVES = st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-3, 3)), max_size=400)


@given(moves=MOVES)
def test_every_version_reads_like_a_dict_with_zero_entries_removed(
        moves: list[tuple[str, int]]) -> None:
    holdings, model, versions = no_holdings(), {}, []
    for key, delta in moves:
        holdings = adjusted(holdings, key, delta)
        model[key] = model.get(key, 0) + delta
        if model[key] == 0:
            del model[key]
        versions.append((holdings, dict(model)))
    # then each version, old ones included, still holds exactly what it held when made
    for version, expected in versions:
        assert dict(version) == expected and len(version) == len(expected)
        assert set(version) == set(expected) and version == expected
        assert all(version.get(key) == expected.get(key) for key in KEYS)


def test_a_long_run_of_moves_compacts_and_stays_equal() -> None:
    holdings = no_holdings()
    for order in range(1000):
        holdings = adjusted(holdings, f"order-{order}", 2)
    holdings = adjusted(holdings, "order-7", -2)
    assert len(holdings) == 999 and "order-7" not in holdings and holdings["order-8"] == 2
    assert isinstance(holdings, Holdings) and repr(holdings).startswith("Holdings({")
