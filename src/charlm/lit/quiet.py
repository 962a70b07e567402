"""Lightning's messages that a charlm run does not need, hidden for that run only."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Lightning's messages that do not apply to a charlm run or repeat what it says itself: the
# chunked batches' length warning (RandomBatches has a length for the progress bar and runs in
# no worker), a deprecation inside Lightning, an advertisement, the validation interval in
# Lightning batches (charlm's is in updates), the test's checkpoint restore, and the advice to
# sync logged values across processes (charlm logs torchmetrics' figures, summed over them).
QUIET_WARNINGS = (
    r"Your `IterableDataset` has `__len__` defined",
    r"It is recommended to use `self.log\('.*', \.\.\., sync_dist=True\)`",
    r".*isinstance\(treespec, LeafSpec\)",
)
QUIET_MESSAGES = (
    "litlogger",
    "validation will run after every batch",
    "Restoring states from the checkpoint path",
    "Loaded model weights from the checkpoint",
)


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in QUIET_MESSAGES)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Hide QUIET_WARNINGS and QUIET_MESSAGES for this run only; the user's own filters and
    Lightning's other messages are left as they are."""
    loggers = [
        logging.getLogger(name)
        for name in (
            "lightning.pytorch.utilities.rank_zero",
            "lightning.fabric.utilities.rank_zero",
        )
    ]
    quiet = _QuietFilter()
    with warnings.catch_warnings():
        for pattern in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        for logger in loggers:
            logger.addFilter(quiet)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeFilter(quiet)
