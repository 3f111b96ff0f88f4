"""Early stopping ("Train until it stops improving"): end a run after `patience` epochs without a new best.

Judged from the run's history only (the rows the loop appends per epoch), so a resumed run continues its
count without extra state, and every DDP rank (whose validation figures are the global ones) decides the
same. `monitor` is "val_acc" (higher is better) or "val_loss" (lower is better); a tie is no improvement.
The best model (highest validation accuracy, train/saver.py) is kept either way.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EarlyStopping", "STOP_COMPLETED", "STOP_EARLY", "STOP_USER"]

#: TrainResult.stop_reason values
STOP_COMPLETED = "completed"
STOP_EARLY = "early_stopping"
STOP_USER = "stopped"


@dataclass(frozen=True)
class EarlyStopping:
    patience: int | None  # None: never stop early
    monitor: str = "val_acc"

    def best_epoch(self, history: list[dict]) -> int | None:
        """The epoch with the best monitored figure (the first of equal ones); None without figures."""
        rows = [r for r in history if r.get(self.monitor) is not None]
        if not rows:
            return None
        sign = 1.0 if self.monitor == "val_acc" else -1.0
        best = rows[0]
        for row in rows[1:]:
            if sign * row[self.monitor] > sign * best[self.monitor]:
                best = row
        return int(best["epoch"])

    def epochs_without_improvement(self, history: list[dict]) -> int:
        best = self.best_epoch(history)
        if best is None or not history:
            return 0
        return int(history[-1]["epoch"]) - best

    def should_stop(self, history: list[dict]) -> bool:
        """True when the last `patience` epochs brought no new best."""
        return self.patience is not None and self.epochs_without_improvement(history) >= self.patience

    def message(self, history: list[dict]) -> str:
        name = "validation accuracy" if self.monitor == "val_acc" else "validation loss"
        n = self.epochs_without_improvement(history)
        return (
            f"stopped early: no better {name} for {n} epoch{'s' if n != 1 else ''} "
            f"(best at epoch {self.best_epoch(history)})"
        )
