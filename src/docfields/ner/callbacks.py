"""Hugging Face Trainer callbacks shared by the tagger's training and its pre-training.

A time budget is a promise to the user: training stops when it runs out, and the learning rate
decays to zero at the last step that fits in it (a linear schedule aimed at steps that will never
run would stop mid-way at a high rate). The last step is always evaluated and saved, so the
best-checkpoint choice sees it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

CALIBRATION_STEPS = 5  # steps between re-measurements of the training speed


def log_callback(logger: logging.Logger) -> Any:
    """Trainer logs to ``logger``: with tqdm off the Trainer would print them."""
    from transformers import TrainerCallback

    class LogToLogger(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            logger.info("epoch %.2f step %d: %s", state.epoch or 0.0, state.global_step, logs)

    return LogToLogger()


def last_step_callback() -> Any:
    """Evaluates and saves the last step, whatever the evaluation interval: the best-model choice sees it."""
    from transformers import TrainerCallback

    class LastStep(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.global_step >= state.max_steps:
                control.should_save = True
                control.should_evaluate = args.eval_strategy != "no"

    return LastStep()


def time_budget_callback(max_minutes: float, warmup_share: float, steps: int) -> Any:
    """Stops at the budget, and re-aims linear decay at the steps that fit in it.

    Every few steps the measured speed says which step will be the last; the learning-rate
    schedule (a ``LambdaLR``) then gets a factor function that warms up and decays to zero at
    that step, and the final step is evaluated and saved so the best-model choice sees it.
    """
    from transformers import TrainerCallback

    budget = max_minutes * 60

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self.started = time.perf_counter()
            self.first_step_done = self.started
            self.last_step = steps
            self.ended_training = False  # read by the caller: the budget, not the epochs, ended the run

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now = time.perf_counter()
            step = state.global_step
            if step == 1:
                self.first_step_done = now  # the first step pays for warm-up: leave it out of the rate
            elif step % CALIBRATION_STEPS == 0:
                per_step = (now - self.first_step_done) / (step - 1)
                fit = step + int((budget - (now - self.started)) / per_step)
                self.last_step = max(step + 1, min(steps, fit))
                aim_schedule(kwargs["lr_scheduler"], int(self.last_step * warmup_share), self.last_step)
                logger.debug("time budget: %d of %d steps fit in %.1f min", self.last_step, steps, budget / 60)
            if step >= self.last_step or now - self.started >= budget:
                self.ended_training = True
                control.should_training_stop = control.should_save = True
                control.should_evaluate = args.eval_strategy != "no"

    return TimeBudget()


def aim_schedule(scheduler: Any, warmup: int, total: int) -> None:
    """Point a ``LambdaLR`` at ``total`` steps: linear warm-up for ``warmup``, then linear decay to zero."""

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler.lr_lambdas = [factor for _ in scheduler.lr_lambdas]


def progress_callback(console: Any, description: str, max_minutes: float | None) -> Any:
    """A rich progress bar for the command line: minutes of the budget when there is one, else steps.

    With a time budget the step count is only an estimate until the end (the speed is measured as
    training goes), so the bar follows the clock; the last loss and evaluation ride along.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from transformers import TrainerCallback

    budget = max_minutes * 60 if max_minutes else None

    class ShowProgress(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("step {task.fields[step]} {task.fields[note]}"), TimeElapsedColumn(),
                                     TimeRemainingColumn(), console=console, transient=True)  # fmt: skip
            self.progress.start()
            total = budget or state.max_steps
            self.task = self.progress.add_task(description, total=total, step=state.global_step, note="")

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            done = time.perf_counter() - self.started if budget else state.global_step
            self.progress.update(self.task, completed=done, step=state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            shown = {key: value for key, value in (logs or {}).items()
                     if key in ("loss", "eval_entity_f1")}  # fmt: skip
            if shown:
                note = ", ".join(f"{key.removeprefix('eval_')} {value:.3f}" for key, value in shown.items())
                self.progress.update(self.task, note=note)

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.progress.stop()

    return ShowProgress()
