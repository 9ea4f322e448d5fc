"""The GUI-free core of metagui: task sets, models, meta-learners, training, evaluation.

Nothing under ``metagui.core`` imports a Qt binding; the rule is enforced by an
import-linter contract and by ``tests/test_architecture.py``.
"""
