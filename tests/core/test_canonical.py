"""The fast canonical encoder agrees with the reference RFC 8785 encoder."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.core.canonical import CanonicalizationError, canonical_bytes

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
documents = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_it_matches_the_reference_encoder(document):
    try:
        expected = rfc8785.dumps(document)
    except rfc8785.CanonicalizationError:
        with pytest.raises(CanonicalizationError):
            canonical_bytes(document)
        return
    assert canonical_bytes(document) == expected


@pytest.mark.parametrize("value", [{"s": "\ud800"}, {"n": 2**53}, [float("nan")]])
def test_values_without_a_canonical_form_are_refused(value):
    with pytest.raises(CanonicalizationError):
        canonical_bytes(value)
