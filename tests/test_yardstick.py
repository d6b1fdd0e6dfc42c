"""The guest's page-fault yardstick (vm/yardstick.py), measured here on the host."""

from __future__ import annotations

import mmap

import pytest

from vm import yardstick


def test_a_page_fault_costs_a_measured_time_of_its_own() -> None:
    cost = yardstick.fault_cost_us(256, rounds=3)
    # A first write costs more than a write to a page already there: the difference is
    # the fault, somewhere between a tenth of a microsecond and a millisecond.
    assert cost is not None and 0.1 < cost < 1000


def test_a_mapping_that_cannot_be_made_is_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(mmap, "mmap", refused)  # the module yardstick maps with
    assert yardstick.fault_cost_us() is None
