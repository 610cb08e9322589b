"""Pure config rules: parsing bodies, merging, summaries."""
from __future__ import annotations

import pytest

from app_layer import configs
from app_layer.errors import ValidationError


def test_merge_unsets_null_keys():
    assert configs.merge({"A": "1", "B": "2"}, {"B": None, "C": "3"}) == {"A": "1", "C": "3"}


def test_parse_change_collects_errors_per_field():
    with pytest.raises(ValidationError) as info:
        configs.parse_change({"values": {"9X": "1"}, "cpu": {"web": 5000}, "memory": {"web": "1G"}})
    assert set(info.value.fields) == {"values", "cpu"}


def test_summary_words_like_deis():
    old = {"values": {"A": "1", "B": "2"}, "memory": {}, "cpu": {}, "tags": {}}
    new = {"values": {"A": "9", "C": "3"}, "memory": {"web": "1G"}, "cpu": {}, "tags": {"env": "x"}}
    assert configs.summarize("ann", new, old) == (
        "ann added C, changed A, deleted B and ann changed limits for memory and ann added tag env")
