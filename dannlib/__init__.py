"""dannlib: helpers for a course on Domain-Adversarial Neural Networks (DANN)."""

from dannlib.config import pick_device, set_seed
from dannlib.evaluation import evaluate
from dannlib.grl import GradientReversal, grad_reverse
from dannlib.history import History
from dannlib.lessons import get_profile
from dannlib.models import DANN, build_model
from dannlib.schedules import annealed_lr, dann_lambda
from dannlib.steps import dann_step
from dannlib.train import fit
from dannlib.train_config import TrainConfig

__version__ = "0.1.0"

__all__ = [
    "DANN",
    "GradientReversal",
    "History",
    "TrainConfig",
    "annealed_lr",
    "build_model",
    "dann_lambda",
    "dann_step",
    "evaluate",
    "fit",
    "get_profile",
    "grad_reverse",
    "pick_device",
    "set_seed",
]
