"""The real daemon under bursts of WebSphere rotations on a busy machine (issue 12).

bench/rotation_burst.py is the harness: a fresh daemon follows one SystemOut.log; the writer
rotates 2-5 times back to back (150 records, the first 40 bytes of a failure record, rename,
the rest of the record in the new file, 100 records), while a CPU-bound process competes for
the machine. The scraped count and the daemon's event log must both be exact. The bench runs
the same 50 times (`python bench/rotation_burst.py --runs 50`); the suite a few times.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from support import REPO, load_script

REPETITIONS = 3


def load_burst() -> ModuleType:
    """bench/rotation_burst.py by path (bench/ is not a package)."""
    return load_script(REPO / "bench" / "rotation_burst.py")


@pytest.fixture
def busy_machine() -> Iterator[None]:
    """A CPU-bound neighbour for the duration of the test."""
    burst = load_burst()
    procs = burst.neighbours(1)
    yield
    burst.stop_all(procs)


@pytest.mark.e2e
@pytest.mark.parametrize("repetition", range(REPETITIONS))
def test_a_burst_of_rotations_is_counted_exactly_once(
    tmp_path: Path, repetition: int, busy_machine: None
) -> None:
    """Every failure of every rotated file counted once: by the scrape and by the event log."""
    burst = load_burst()
    rotations = random.Random(repetition).randint(2, 5)  # noqa: S311 - test data
    result = burst.run_once(tmp_path, seed=100 + repetition, rotations=rotations)
    assert result.rotations == rotations
    assert result.written > 50
    assert (result.doubled, result.missed) == (0, 0), (result.doubled, result.missed)
    assert result.scraped == result.written
