"""web.body_slots: a web process reads only a few large bodies at once."""

from __future__ import annotations

import threading

import pytest

from models.errors import Busy
from web.body_slots import BodySlots


def test_large_bodies_wait_for_a_slot_and_small_ones_never_do():
    slots = BodySlots(small=100, slots=1, wait=0.1)
    refused = []
    with slots.reading(1_000_000):
        for length in (101, None):  # larger than small, and chunked (unknown)
            other = threading.Thread(target=lambda n=length: refused.append(_read(slots, n)))
            other.start()
            other.join()
        with slots.reading(100), slots.reading(0):  # small bodies: no slot at all
            pass
    assert refused == ["busy", "busy"]
    assert _read(slots, 101) == "read"  # the slot was given back


def test_a_failing_read_gives_its_slot_back():
    slots = BodySlots(small=0, slots=1, wait=0.1)
    with pytest.raises(ValueError), slots.reading(10):
        raise ValueError("client went away")
    assert _read(slots, 10) == "read"


def _read(slots: BodySlots, length: int | None) -> str:
    try:
        with slots.reading(length):
            return "read"
    except Busy:
        return "busy"
