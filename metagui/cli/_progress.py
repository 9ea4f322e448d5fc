"""What ``metagui run`` shows while a study runs.

On a terminal: a bar for the study (trials done of the budget, the best value so far and the
time left, from the finished trials and the steps of the running ones) and below it a bar for
each running trial (its step of the total, loss, validation value; where it runs, on Ray),
redrawn a few times a second at most. Anywhere else (a log file, a pipe, a batch job's
output): plain lines, and few of them: one per finished trial with the best so far and the
time left, and while trials run, one line a minute with the step each has reached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from metagui.core.objectives import format_objective
from metagui.core.reports import format_clock, format_value

if TYPE_CHECKING:
    from tqdm import tqdm

    from metagui.core.runner import StudyStarted, TrialEnded

__all__ = ["LineProgress", "RunProgress", "TerminalProgress", "front_text", "open_progress"]

REDRAW_S = 0.25  # a terminal's bars are redrawn at most this often
TICK_REDRAW_S = 1.0  # and this often without news (the clocks go on during a meta-test)
LINE_EVERY_S = 60.0  # the interval of the progress lines outside a terminal
MAX_TRIAL_BARS = 8  # more running trials are counted in the study bar, not drawn
FRONT_SHOWN = 6  # trial numbers of a Pareto front named in a progress line


def front_text(front: tuple[int, ...], shown: int = FRONT_SHOWN) -> str:
    """A two-objective study's Pareto front in a line: ``front: 3 trials (#2, #5, #7)``."""
    if not front:
        return "front: no trial yet"
    numbers = ", ".join(f"#{n}" for n in front[:shown])
    more = f", +{len(front) - shown} more" if len(front) > shown else ""
    return f"front: {len(front)} trial{'' if len(front) == 1 else 's'} ({numbers}{more})"


@dataclass
class _Trial:
    """What is known of a running trial."""

    number: int
    step: int = 0
    total: int | None = None
    loss: float | None = None
    validation: float | None = None
    host: str = ""
    device: str = ""
    on_ray: bool = False

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    def describe(self) -> str:
        """``step 120/1000, loss 0.31, val 0.28`` (``starting on cuda:0`` before the first
        step; on Ray, the host throughout)."""
        host = f" on {self.host}" if self.on_ray and self.host else ""
        if self.total is None:
            return f"starting{host or (f' on {self.device}' if self.device else '')}"
        if self.step >= self.total:
            text = f"meta-testing after {self.total} steps"
        else:
            text = f"step {self.step}/{self.total}, loss {format_value(self.loss)}"
            if self.validation is not None:
                text += f", val {format_value(self.validation)}"
        return text + host


class RunProgress:
    """Follows the runner's reports (``handle``) and keeps the study's totals: trials done in
    this run, the best so far, the running trials and the time left. Subclasses show them."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.planned: int | None = None  # trials the study is to have in all
        self.finished_before = 0  # trials it had when this run began
        self.done = 0  # trials this run finished (complete, pruned or failed)
        self.timeout_s: float | None = None
        self.best_value: float | None = None
        self.best_number: int | None = None
        self.multi_objective = False
        self.objectives: tuple[str, ...] = ()  # a two-objective study's, by name
        self.front: tuple[int, ...] = ()
        self.running: dict[int, _Trial] = {}
        self.on_ray = False

    # -- the runner's reports -----------------------------------------------------------------
    def handle(self, report: object) -> None:
        from metagui.core.reports import Tick
        from metagui.core.runner import (
            StudyStarted,
            TrialEnded,
            TrialPlaced,
            TrialStarted,
            TrialStep,
        )

        if isinstance(report, StudyStarted):
            self.started = self.clock()
            self.planned, self.finished_before = report.planned_trials, report.finished_trials
            self.timeout_s, self.on_ray = report.timeout_s, report.on_ray
            self.multi_objective, self.front = report.multi_objective, report.front
            self.objectives = tuple(o.name for o in report.objectives)
            self.study_started(report)
        elif isinstance(report, TrialStarted):
            self.running[report.number] = _Trial(report.number, on_ray=self.on_ray)
            self.trial_changed(report.number, news=True)
        elif isinstance(report, TrialPlaced):
            trial = self.running.get(report.number)
            if trial is not None:
                trial.host, trial.device = report.host, report.device
                self.trial_changed(report.number, news=True)
        elif isinstance(report, TrialStep):
            trial = self.running.get(report.number)
            if trial is not None:
                step = report.report
                # The first step ("starting" may have shown for minutes) and a validation
                # value are news; other steps are drawn at the display's pace.
                news = trial.total is None or step.validation is not None
                trial.step, trial.total, trial.loss = step.step, step.total_steps, step.train_loss
                if step.validation is not None:
                    trial.validation = step.validation.final
                self.trial_changed(report.number, news)
        elif isinstance(report, TrialEnded):
            self.running.pop(report.number, None)
            self.done += 1
            self.best_value, self.best_number = report.best_value, report.best_number
            self.front = report.front
            self.trial_ended(report)
        elif isinstance(report, Tick):
            self.tick()

    # -- what a display does with them ----------------------------------------------------------
    def study_started(self, report: StudyStarted) -> None:
        """The study began."""

    def trial_changed(self, number: int, news: bool = False) -> None:
        """A running trial started, was placed or reported a step (``news``: something to
        show at once)."""

    def trial_ended(self, report: TrialEnded) -> None:
        """A trial ended (already out of ``running``, the best updated)."""

    def tick(self) -> None:
        """The runner is waiting for its workers."""

    def close(self) -> None:
        """The run is over (or stopped)."""

    # -- figures -------------------------------------------------------------------------------
    def best(self) -> str:
        """``best 0.2164 (trial 3)``; a two-objective study's front instead."""
        if self.multi_objective:
            return front_text(self.front)
        if self.best_number is None:
            return f"best {format_value(None)}"
        return f"best {format_value(self.best_value)} (trial {self.best_number})"

    def eta_s(self) -> float | None:
        """Seconds left: the budget of trials at the pace of this run so far (running trials
        count by the share of their steps done), within the time budget; None before any
        progress or without a budget."""
        elapsed = self.clock() - self.started
        left: float | None = None
        if self.planned is not None:
            work = self.planned - self.finished_before
            progress = self.done + sum(t.fraction for t in self.running.values())
            if progress > 0 and elapsed > 0:
                left = max(0.0, work - progress) * elapsed / progress
        if self.timeout_s is not None:
            time_left = max(0.0, self.timeout_s - elapsed)
            left = time_left if left is None else min(left, time_left)
        return left

    def eta(self) -> str:
        left = self.eta_s()
        return "ETA ?" if left is None else f"ETA {format_clock(left)}"

    def trials_done(self) -> str:
        total = self.finished_before + self.done
        return f"{total}/{self.planned}" if self.planned is not None else f"{total}"

    def ended_line(self, report: TrialEnded) -> str:
        """The line of a finished trial: its state, value, time and why it failed or was
        pruned."""
        detail = report.error or report.pruned_reason or ""
        if report.values is not None:
            names = self.objectives or ("",) * len(report.values)
            values = " / ".join(
                format_objective(n, v) for n, v in zip(names, report.values, strict=False)
            )
            shown = f"values {values:<18s}"
        else:
            shown = f"value {format_value(report.value):>8s}"
        return (
            f"  trial {report.number:3d} {report.state:8s} {shown}"
            f"  {report.duration_s:6.1f} s  {detail}"
        ).rstrip()


class TerminalProgress(RunProgress):
    """Bars on a terminal: the study's, and one per running trial."""

    def __init__(self, stream: IO[str], clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(stream, clock)
        self._study: tqdm[Any] | None = None
        self._bars: dict[int, tqdm[Any]] = {}
        self._drawn = 0.0

    def _bar(self, **kwargs: Any) -> tqdm[Any]:
        from tqdm import tqdm

        # Drawn when ``_redraw`` says so (nothing calls ``update``; with miniters=1 tqdm's
        # monitor thread leaves the bars alone). The bars have a fixed width: the text after
        # them (step, loss, best, time left) is what counts, and a line wider than the
        # terminal loses its end.
        return tqdm(file=self.stream, dynamic_ncols=True, miniters=1, mininterval=0, **kwargs)

    def study_started(self, report: StudyStarted) -> None:
        total = report.planned_trials
        layout = (
            "{desc}: {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt}"
            if total
            else "{desc}: {n_fmt}"
        )
        self._study = self._bar(
            total=total,
            initial=report.finished_trials,
            desc="trials",
            unit="trial",
            bar_format=layout + " [{elapsed}{postfix}]",
            postfix=self._study_postfix(),
        )
        self._drawn = self.clock()

    def trial_changed(self, number: int, news: bool = False) -> None:
        trial = self.running[number]
        bar = self._bars.get(number)
        if bar is None and len(self._bars) < MAX_TRIAL_BARS:
            bar = self._bars[number] = self._bar(
                total=trial.total,
                desc=f"  trial {number}",
                unit="step",
                leave=False,
                bar_format="{desc}: {percentage:3.0f}%|{bar:20}| [{elapsed}{postfix}]",
                postfix=trial.describe(),
            )
        self._redraw(force=news)

    def trial_ended(self, report: TrialEnded) -> None:
        bar = self._bars.pop(report.number, None)
        if bar is not None:
            bar.close()
        if self._study is not None:
            self._study.n += 1  # drawn below, with the new best
            self._study.write(self.ended_line(report), file=self.stream)
        self._redraw(force=True)

    def tick(self) -> None:
        if self.clock() - self._drawn >= TICK_REDRAW_S:
            self._redraw(force=True)

    def _redraw(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        for number, bar in self._bars.items():
            trial = self.running[number]
            if trial.total is not None and bar.total != trial.total:
                bar.total = trial.total
            bar.n = min(trial.step, trial.total or 0)
            bar.set_postfix_str(trial.describe(), refresh=False)
            bar.refresh()
        if self._study is not None:
            self._study.set_postfix_str(self._study_postfix(), refresh=False)
            self._study.refresh()

    def _study_postfix(self) -> str:
        parts = [self.best(), self.eta()]
        if len(self.running) > 1:
            hidden = len(self.running) - len(self._bars)
            parts.insert(
                0, f"{len(self.running)} running" + (f", {hidden} not shown" if hidden else "")
            )
        return ", ".join(parts)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
        if self._study is not None:
            self._redraw(force=True)
            self._study.close()
            self._study = None


class LineProgress(RunProgress):
    """Plain lines (a log file, a pipe): one per finished trial, one a minute meanwhile."""

    def __init__(
        self,
        stream: IO[str],
        clock: Callable[[], float] = time.monotonic,
        every_s: float = LINE_EVERY_S,
    ) -> None:
        super().__init__(stream, clock)
        self.every_s = every_s
        self._written = clock()

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
        self._written = self.clock()

    def study_started(self, report: StudyStarted) -> None:
        self._written = self.clock()

    def trial_changed(self, number: int, news: bool = False) -> None:
        self.tick()

    def trial_ended(self, report: TrialEnded) -> None:
        self._line(f"{self.ended_line(report)}  [{self._summary()}]")

    def tick(self) -> None:
        if self.running and self.clock() - self._written >= self.every_s:
            shown = sorted(self.running.values(), key=lambda t: t.number)[:4]
            trials = "; ".join(f"trial {t.number} {t.describe()}" for t in shown)
            if len(self.running) > len(shown):
                trials += f"; {len(self.running) - len(shown)} more running"
            elapsed = format_clock(self.clock() - self.started)
            self._line(f"  [{elapsed}] {trials}  [{self._summary()}]")

    def _summary(self) -> str:
        return f"{self.trials_done()} trials done, {self.best()}, {self.eta()}"


def open_progress(stream: IO[str]) -> RunProgress:
    """Bars where ``stream`` is a terminal, plain lines elsewhere."""
    isatty = getattr(stream, "isatty", None)
    terminal = bool(isatty and isatty()) and os.environ.get("TERM", "") != "dumb"
    return TerminalProgress(stream) if terminal else LineProgress(stream)
