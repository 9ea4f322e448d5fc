"""``warm_start`` in the strategy panel: start cold, learn from the most similar past studies
of the history (``warm_start: auto``, the experience pool), or seed from studies chosen by
name.

With ``auto`` the panel lists the studies of the history ranked by similarity, each with its
best value and how it is similar; unticking one excludes it (``experience.exclude``), those
that cannot be learned from are greyed with the reason. Ranking fingerprints the experiment
(which may hash its data files), so it runs off the GUI thread through a
:class:`~metagui.qt._latest.LatestLoader`, debounced, and only again when what the
fingerprint is made of or the history changed.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Slot
from PySide6.QtGui import QCloseEvent, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from metagui.core.experiment import ExperienceSpec
from metagui.qt._document import ExperimentDocument
from metagui.qt._latest import LatestLoader
from metagui.qt.panels._experience_rows import (
    PoolRow,
    Ranking,
    fingerprint_key,
    pool_rows,
    pool_summary,
    rank_history,
)
from metagui.qt.panels._form import ModelForm

__all__ = ["ExperiencePoolList", "WarmStartEditor", "WarmStartList"]

StudiesProvider = Callable[[], list[str]]
HistoryProvider = Callable[[], Path | None]
Mode = Literal["cold", "auto", "named"]
_T = TypeVar("_T")

NAME_ROLE = Qt.ItemDataRole.UserRole
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

EXPERIENCE_FIELDS = (
    "min_similarity",
    "max_studies",
    "initial_design",
    "initial_configs",
    "prior",
    "pruning",
    "pruning_quantile",
)
EXPERIENCE_LABELS = {
    "min_similarity": "Min similarity",
    "max_studies": "Max studies",
    "initial_design": "Run their best first",
    "initial_configs": "Configurations",
    "prior": "Prior for the sampler",
    "pruning": "Prune against their curves",
    "pruning_quantile": "Pruning quantile",
}


def _held_weakly(provider: _T | None) -> Callable[[], _T | None]:
    """A getter of ``provider``; a bound method (e.g. the main window's) is held weakly: a
    strong reference from a child widget would keep its owner alive after it is closed."""
    if inspect.ismethod(provider):
        return weakref.WeakMethod(provider)
    return lambda: provider


def _hint() -> QLabel:
    label = QLabel()
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class WarmStartList(QWidget):
    """``warm_start`` as a list of names: the studies of the history whose best trials seed
    this one."""

    def __init__(
        self,
        doc: ExperimentDocument,
        studies_provider: StudiesProvider | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._doc = doc
        self._provider = _held_weakly(studies_provider)
        self._studies: list[str] = []
        self._loaded = False
        self.list = QListWidget()
        self.list.setObjectName("warmStartList")
        self.list.itemChanged.connect(self._on_item_changed)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read the studies of the history again")
        self.reload_button.clicked.connect(self.reload)
        self.reload_button.setEnabled(studies_provider is not None)
        self.hint = _hint()
        head = QHBoxLayout()
        head.addWidget(self.hint, 1)
        head.addWidget(self.reload_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.list, 1)
        doc.changed.connect(self.refresh)
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded:
            self.reload()

    @Slot()
    def reload(self) -> None:
        """Ask the provider for the history's studies (a database read: not on every edit)."""
        self._loaded = True
        provider = self._provider()
        if provider is not None:
            try:
                self._studies = list(provider())
            except Exception as exc:  # a damaged or locked history must not break the panel
                self._studies = []
                self.hint.setText(f"Cannot read the history: {exc}")
                self.refresh(keep_hint=True)
                return
        self.refresh()

    @Slot()
    def refresh(self, keep_hint: bool = False) -> None:
        warm = self._doc.spec.warm_start
        chosen = [] if warm == "auto" else list(warm)
        names = self._studies + [n for n in chosen if n not in self._studies]
        with QSignalBlocker(self.list):
            self.list.clear()
            for name in names:
                text = name if name in self._studies else f"{name}  (not in this history)"
                item = QListWidgetItem(text)
                item.setData(NAME_ROLE, name)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                checked = Qt.CheckState.Checked if name in chosen else Qt.CheckState.Unchecked
                item.setCheckState(checked)
                self.list.addItem(item)
        if not keep_hint:
            self.hint.setText(
                "Seed this study with the best trials of the checked studies."
                if names
                else "No earlier studies in the history yet."
            )

    def chosen(self) -> list[str]:
        return [
            str(item.data(NAME_ROLE))
            for item in (self.list.item(i) for i in range(self.list.count()))
            if item.checkState() == Qt.CheckState.Checked
        ]

    @Slot(QListWidgetItem)
    def _on_item_changed(self, _item: QListWidgetItem) -> None:
        self._doc.set_value("warm_start", self.chosen())


class ExperiencePoolList(QWidget):
    """``warm_start: auto``: the studies of the history (``history_provider`` gives its
    path) ranked by similarity, what the new study learns from ticked, the others greyed
    with the reason; below, the ``experience`` settings. Unticking a study puts it in
    ``experience.exclude`` (one undoable edit)."""

    def __init__(
        self,
        doc: ExperimentDocument,
        history_provider: HistoryProvider | None = None,
        *,
        delay_ms: int = 300,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._doc = doc
        self._provider = _held_weakly(history_provider)
        self._ranking: Ranking | None = None
        self._ranked_key: tuple[Path | None, str] | None = None  # what the ranking is of
        self._requested_key: tuple[Path | None, str] | None = None
        self._rows: list[PoolRow] = []
        self.summary = _hint()
        self.summary.setObjectName("poolSummary")
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Rank the studies of the history again")
        self.reload_button.clicked.connect(self.reload)
        self.reload_button.setEnabled(history_provider is not None)
        self.list = QListWidget()
        self.list.setObjectName("experienceList")
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.list.setAlternatingRowColors(True)  # where one study's two lines end
        self.list.setSpacing(1)
        self.list.setMinimumHeight(200)
        self.list.itemChanged.connect(self._on_item_changed)
        self.settings = ModelForm(
            doc,
            ExperienceSpec,
            "experience",
            fields=EXPERIENCE_FIELDS,
            labels=EXPERIENCE_LABELS,
        )
        self.settings.field_checked.connect(self._update_visible)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.reload_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(head)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.settings)

        self.loader = LatestLoader(delay_ms, self)
        self.loader.ready.connect(self._on_ranked)
        self.loader.failed.connect(self._on_failed)
        self.loader.started.connect(self._on_started)
        doc.changed.connect(self._on_doc_changed)
        self._on_doc_changed()

    # -- ranking ---------------------------------------------------------------------------------
    def history_path(self) -> Path | None:
        provider = self._provider()
        return None if provider is None else provider()

    def _key(self) -> tuple[Path | None, str]:
        return self.history_path(), fingerprint_key(self._doc.spec)

    @Slot()
    def reload(self) -> None:
        """Rank the studies again (the history changed: a study ended, another file)."""
        self._ranked_key = self._requested_key = None
        self._schedule(now=True)

    def _schedule(self, *, now: bool = False) -> None:
        """Rank the studies if the experiment's fingerprint or the history changed since the
        last ranking; only while shown and in auto mode (a hidden panel ranks when shown)."""
        if not self.isVisible() or self._doc.spec.warm_start != "auto":
            return
        key = self._key()
        if key in (self._ranked_key, self._requested_key):
            return
        path, _ = key
        if path is None:
            self.loader.cancel()
            self._requested_key = None
            self._ranked_key = key
            self._ranking = None
            self.summary.setText("No history to learn from.")
            self._fill()
            return
        self._requested_key = key
        spec = self._doc.spec
        self.loader.submit(lambda: rank_history(path, spec), now=now)

    @Slot()
    def _on_started(self) -> None:
        if self._ranking is None:
            self.summary.setText("Ranking the studies of the history…")

    @Slot(object)
    def _on_ranked(self, ranking: Ranking) -> None:
        self._ranked_key, self._requested_key = self._requested_key, None
        self._ranking = ranking
        self._show_rows()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self._ranked_key, self._requested_key = self._requested_key, None
        self._ranking = None
        self._fill()
        self.summary.setText(f"Cannot rank the studies of the history: {message}")

    @property
    def busy(self) -> bool:
        return self.loader.busy

    def ranking(self) -> Ranking | None:
        return self._ranking

    # -- model -> view ---------------------------------------------------------------------------
    @Slot()
    def _on_doc_changed(self) -> None:
        self._update_visible()
        self._show_rows()
        self._schedule()

    def _show_rows(self) -> None:
        if self._ranking is None:
            self._fill()
            return
        settings = self._doc.spec.experience
        self._rows = pool_rows(self._ranking, settings)
        self._fill()
        self.summary.setText(pool_summary(self._ranking, self._rows, settings))

    def _fill(self) -> None:
        if self._ranking is None:
            self._rows = []
        # Readable, but apart from those learned from (the disabled text colour is too faint
        # for two lines of reasons).
        grey = self.palette().color(QPalette.ColorRole.PlaceholderText)
        with QSignalBlocker(self.list):
            self.list.clear()
            for row in self._rows:
                item = QListWidgetItem(f"{row.headline()}\n{row.detail()}")
                item.setData(NAME_ROLE, row.name)
                item.setData(ROW_ROLE, row.status)
                item.setToolTip(_tooltip(row))
                flags = Qt.ItemFlag.ItemIsUserCheckable
                if row.checkable:
                    flags |= Qt.ItemFlag.ItemIsEnabled
                item.setFlags(flags)
                checked = Qt.CheckState.Checked if row.checked else Qt.CheckState.Unchecked
                item.setCheckState(checked)
                if not row.used:
                    item.setForeground(grey)
                self.list.addItem(item)

    @Slot()
    def _update_visible(self, *_: object) -> None:
        shown = set(EXPERIENCE_FIELDS)
        if not self.settings.current("initial_design"):
            shown.discard("initial_configs")
        if not self.settings.current("pruning"):
            shown.discard("pruning_quantile")
        self.settings.set_visible_fields(shown)

    # -- view -> model ---------------------------------------------------------------------------
    def rows(self) -> list[PoolRow]:
        """The studies as listed (tests read what the user sees)."""
        return list(self._rows)

    def ticked(self) -> list[str]:
        return [
            str(item.data(NAME_ROLE))
            for item in (self.list.item(i) for i in range(self.list.count()))
            if item.checkState() == Qt.CheckState.Checked
        ]

    @Slot(QListWidgetItem)
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        name = str(item.data(NAME_ROLE))
        exclude = list(self._doc.spec.experience.exclude)
        if item.checkState() == Qt.CheckState.Checked:
            exclude = [n for n in exclude if n != name]
        elif name not in exclude:
            exclude.append(name)
        self._doc.set_value("experience.exclude", exclude)

    # -- lifetime --------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        window = self.window()
        if window is not self:
            # Inside a main window this widget gets no close event of its own: watch the
            # window's, so that no ranking thread outlives it (no reference to it is kept).
            window.installEventFilter(self)
        self._schedule(now=self._ranking is None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.window():
            self.shutdown()
        return super().eventFilter(watched, event)

    @Slot()
    def shutdown(self) -> None:
        """Stop ranking and wait for a ranking in progress; a later show ranks again."""
        self.loader.shutdown()
        self._requested_key = None

    def closeEvent(self, event: QCloseEvent) -> None:
        self.shutdown()
        super().closeEvent(event)


def _tooltip(row: PoolRow) -> str:
    lines = [f"{row.name}: {row.similarity:.2f} similar", row.explanation]
    if row.reason:
        lines.append(f"Not learned from: {row.reason}")
    elif row.used:
        lines.append("Learned from: untick to leave it out")
    return "\n".join(line for line in lines if line)


class WarmStartEditor(QWidget):
    """``warm_start`` in three modes: start cold, learn from past studies (``auto``: the
    experience pool, :class:`ExperiencePoolList`), or seed from chosen studies
    (:class:`WarmStartList`)."""

    MODES: tuple[tuple[Mode, str, str], ...] = (
        ("cold", "Cold start", "Start from nothing: the strategy explores on its own."),
        (
            "auto",
            "Learn from past studies",
            "Learn from the most similar finished studies of the history: run their best "
            "settings first, give the sampler their trials as a prior, prune against their "
            "curves.",
        ),
        (
            "named",
            "Chosen studies",
            "Seed this study with the best trials of studies you pick by name.",
        ),
    )

    def __init__(
        self,
        doc: ExperimentDocument,
        studies_provider: StudiesProvider | None = None,
        history_provider: HistoryProvider | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._doc = doc
        self._named_picked = False  # "Chosen studies" picked while none is chosen yet
        self.buttons: dict[Mode, QRadioButton] = {}
        self._group = QButtonGroup(self)
        modes = QHBoxLayout()
        modes.setContentsMargins(0, 0, 0, 0)
        for mode, text, tip in self.MODES:
            button = QRadioButton(text)
            button.setObjectName(f"warmStart_{mode}")
            button.setToolTip(tip)
            button.clicked.connect(lambda _=False, m=mode: self.set_mode(m))
            self._group.addButton(button)
            modes.addWidget(button)
            self.buttons[mode] = button
        modes.addStretch(1)
        self.note = _hint()
        self.pool = ExperiencePoolList(doc, history_provider)
        self.named = WarmStartList(doc, studies_provider)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(modes)
        layout.addWidget(self.note)
        layout.addWidget(self.pool, 1)
        layout.addWidget(self.named, 1)
        doc.changed.connect(self.refresh)
        self.refresh()

    def mode(self) -> Mode:
        warm = self._doc.spec.warm_start
        if warm == "auto":
            return "auto"
        return "named" if warm or self._named_picked else "cold"

    def set_mode(self, mode: Mode) -> None:
        """What a click on a mode does: ``auto`` or no studies (cold or chosen: none yet)."""
        self._named_picked = mode == "named"
        if mode == "auto":
            self._doc.set_value("warm_start", "auto")
        elif mode == "cold" or self._doc.spec.warm_start == "auto":
            self._doc.set_value("warm_start", [])
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        mode = self.mode()
        for name, button in self.buttons.items():
            with QSignalBlocker(button):
                button.setChecked(name == mode)
        self.note.setText(next(tip for m, _, tip in self.MODES if m == mode))
        self.pool.setVisible(mode == "auto")
        self.named.setVisible(mode == "named")
        self.note.setVisible(mode != "named")

    @Slot()
    def reload(self) -> None:
        """Read the history again (a study ended, or runs go to another file now)."""
        self.named.reload()
        self.pool.reload()
