"""dannlib: helpers for a course on Domain-Adversarial Neural Networks (DANN)."""

from dannlib.config import get_profile, pick_device, set_seed
from dannlib.evaluation import evaluate
from dannlib.grl import GradientReversal, grad_reverse
from dannlib.models import DANN, build_model
from dannlib.schedules import annealed_lr, dann_lambda
from dannlib.train import History, fit

__version__ = "0.1.0"

__all__ = [
    "DANN",
    "GradientReversal",
    "History",
    "annealed_lr",
    "build_model",
    "dann_lambda",
    "evaluate",
    "fit",
    "get_profile",
    "grad_reverse",
    "pick_device",
    "set_seed",
]
