"""Meta-learning algorithms, all over ``torch.func.functional_call`` and one interface."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metagui.core.learners._amortized import AmortizedLearner, ProtoNet, prototype_logits
from metagui.core.learners._base import MetaLearner, StepOutput, task_losses, task_metrics
from metagui.core.learners._cnp import CNP
from metagui.core.learners._gradient import GradientLearner
from metagui.core.learners._variants import ANIL, FOMAML, MAMLPlusPlus, MetaSGD, Reptile

if TYPE_CHECKING:
    from metagui.core.spec import AlgorithmSpec, ModelSpec
    from metagui.core.tasksets import TaskInfo

__all__ = [
    "ANIL",
    "CNP",
    "FOMAML",
    "LEARNERS",
    "AmortizedLearner",
    "GradientLearner",
    "MAMLPlusPlus",
    "MetaLearner",
    "MetaSGD",
    "ProtoNet",
    "Reptile",
    "StepOutput",
    "build_learner",
    "prototype_logits",
    "task_losses",
    "task_metrics",
]

LEARNERS: dict[str, type[MetaLearner]] = {
    "maml": GradientLearner,
    "fomaml": FOMAML,
    "reptile": Reptile,
    "metasgd": MetaSGD,
    "anil": ANIL,
    "mamlpp": MAMLPlusPlus,
    "protonet": ProtoNet,
    "cnp": CNP,
}


def build_learner(algorithm: AlgorithmSpec, model_spec: ModelSpec, info: TaskInfo) -> MetaLearner:
    """The learner named by ``algorithm.name`` over a freshly initialised network."""
    cls = LEARNERS[algorithm.name]
    return cls(cls.build_model(model_spec, info), algorithm, info)
