"""The replica's GC freezer (events/gc_freeze.py): frozen as subscriptions grow,
unfrozen when they fall below half, off with 0."""

from __future__ import annotations

import gc

from events.gc_freeze import GcFreezer


def test_freezes_as_subscriptions_grow_and_unfreezes_when_they_halve() -> None:
    gc.unfreeze()
    n = [0]
    freezer = GcFreezer(lambda: n[0], every=200)
    try:
        n[0] = 199
        freezer.check()
        assert gc.get_freeze_count() == 0
        n[0] = 200
        freezer.check()
        assert gc.get_freeze_count() > 0 and freezer.freezes == 1
        n[0] = 150  # fewer, but not below half: stays frozen
        freezer.check()
        assert gc.get_freeze_count() > 0
        n[0] = 99
        freezer.check()
        assert gc.get_freeze_count() == 0 and freezer.peak == 0
        n[0] = 299  # grows again from 99
        freezer.check()
        assert gc.get_freeze_count() > 0 and freezer.freezes == 2
    finally:
        gc.unfreeze()


def test_closed_subscriptions_are_reclaimed_and_refrozen() -> None:
    """Steady churn: as many open, but half of them replaced since the freeze."""
    gc.unfreeze()
    n, closed = [400], [0]
    freezer = GcFreezer(lambda: n[0], every=200, closed=lambda: closed[0])
    try:
        freezer.check()
        assert gc.get_freeze_count() > 0 and freezer.freezes == 1
        closed[0] = 150  # 150 replaced: fewer than half of 400 and than the step
        freezer.check()
        assert freezer.reclaims == 0
        closed[0] = 200
        freezer.check()
        assert freezer.reclaims == 1 and freezer.freezes == 2 and gc.get_freeze_count() > 0
        assert freezer.closed_at == 200
    finally:
        gc.unfreeze()


def test_zero_turns_it_off() -> None:
    gc.unfreeze()
    freezer = GcFreezer(lambda: 10_000, every=0)
    freezer.check()
    assert gc.get_freeze_count() == 0
