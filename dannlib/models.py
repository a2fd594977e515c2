"""DANN = feature extractor + label predictor + (gradient reversal -> domain classifier).

Factories build the paper's networks (Ganin et al. 2016): the MNIST net, the SVHN net, the
15-unit toy net of the moons experiment, and a "modern" digit net with batch norm and dropout.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from torch import nn

from dannlib.grl import GradientReversal


class DANN(nn.Module):
    """Returns (class logits N x K, domain logit N) for a batch; the domain logit feeds BCE.

    `spec` names the factory and arguments that built the model, so checkpoints can be checked
    against (and rebuilt into) the right architecture.
    """

    def __init__(
        self,
        features: nn.Module,
        label_head: nn.Module,
        domain_head: nn.Module,
        spec: dict | None = None,
    ):
        super().__init__()
        self.features = features
        self.label_head = label_head
        self.domain_head = domain_head
        self.grl = GradientReversal(1.0)
        self.spec = spec or {"arch": "custom", "kwargs": {}}

    def forward(
        self, x: torch.Tensor, lambd: float | torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Class logits and the domain logit; `lambd` (if given) is the reversal strength."""
        f = self.features(x)
        return self.label_head(f), self.domain_logit(f, lambd)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The label predictor's logits for a batch of (float) inputs."""
        return self.label_head(self.features(x))

    def domain_logit(self, f: torch.Tensor, lambd: float | torch.Tensor | None = None):
        """The domain classifier's single logit for `f`, what the domain head reads (DANN's:
        the features; see dannlib.steps.adversarial_loss), behind the gradient reversal with
        strength `lambd` (default: the layer's own `.lambd`; the model is not changed)."""
        return self.domain_head(self.grl(f, lambd)).squeeze(-1)

    @property
    def has_batchnorm(self) -> bool:
        """True if a batch-norm layer would mix domains when fed a concatenated batch."""
        return bool(batchnorm_layers(self))


def batchnorm_layers(module: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every batch-norm layer inside `module`, in order."""
    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _mlp(sizes: list[int], dropout: float = 0.0, batchnorm: bool = False) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Inside the block `module` is in eval mode; its previous mode comes back, whatever happens."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def _flat_size(features: nn.Module, in_channels: int, size: int) -> int:
    """Length of the flattened feature vector for one input image."""
    with torch.no_grad(), eval_mode(features):
        return features(torch.zeros(1, in_channels, size, size)).shape[1]


class Standardize(nn.Module):
    """Each image minus its own mean, over its own standard deviation (at least 1/sqrt(size)).

    No parameters: a saved network carries it, and it reads every domain the same way.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        std = flat.std(1).clamp_min(1 / math.sqrt(flat.shape[1]))
        shape = (-1,) + (1,) * (x.dim() - 1)
        return (x - flat.mean(1).view(shape)) / std.view(shape)


INPUTS = ("raw", "standardize")


def mnist_net(
    num_classes: int = 10, in_channels: int = 3, size: int = 28, inputs: str = "raw"
) -> DANN:
    """The paper's MNIST -> MNIST-M net: conv5x5(32)-pool-conv5x5(48)-pool; 100-100-K; 100-1.

    inputs="standardize" first standardises each image (Standardize), as the "paper" recipe does.
    """
    if inputs not in INPUTS:
        raise ValueError(f"unknown inputs {inputs!r}; choose one of: {', '.join(INPUTS)}")
    features = nn.Sequential(
        *([Standardize()] if inputs == "standardize" else []),
        nn.Conv2d(in_channels, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 48, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
    )
    d = _flat_size(features, in_channels, size)
    kwargs = dict(num_classes=num_classes, in_channels=in_channels, size=size)
    spec = {
        "arch": "mnist",
        "kwargs": {**kwargs, **({"inputs": inputs} if inputs != "raw" else {})},
    }
    return DANN(features, _mlp([d, 100, 100, num_classes]), _mlp([d, 100, 1]), spec)


def svhn_net(num_classes: int = 10, in_channels: int = 3, size: int = 32) -> DANN:
    """The paper's SVHN net: conv 64-64-128, 3x3/2 pools; label 3072-2048-K; domain 1024-1024-1."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 64, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 128, 5, padding=2),
        nn.ReLU(),
        nn.Flatten(),
    )
    d = _flat_size(features, in_channels, size)
    spec = {
        "arch": "svhn",
        "kwargs": dict(num_classes=num_classes, in_channels=in_channels, size=size),
    }
    label = _mlp([d, 3072, 2048, num_classes])
    domain = _mlp([d, 1024, 1024, 1])
    return DANN(features, label, domain, spec)


def modern_net(num_classes: int = 10, in_channels: int = 3, size: int = 28) -> DANN:
    """The paper's MNIST net with batch norm and dropout: reaches a higher target accuracy in
    fewer steps, at the paper net's cost per step (wider convolutions were 2x slower on a CPU
    and no more accurate)."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 32, 5),
        nn.BatchNorm2d(32),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(32, 48, 5),
        nn.BatchNorm2d(48),
        nn.Dropout2d(0.5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
    )
    d = _flat_size(features, in_channels, size)
    spec = {
        "arch": "modern",
        "kwargs": dict(num_classes=num_classes, in_channels=in_channels, size=size),
    }
    label = _mlp([d, 100, 100, num_classes], dropout=0.5, batchnorm=True)
    domain = _mlp([d, 100, 1], batchnorm=True)
    return DANN(features, label, domain, spec)


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def toy_net(
    num_classes: int = 2,
    in_features: int = 2,
    hidden: int = 15,
    activation: str = "sigmoid",
    domain_hidden: int = 15,
) -> DANN:
    """The paper's shallow net for the moons: one sigmoid hidden layer of 15 units, a linear
    label head. The domain head has one hidden layer of `domain_hidden` units (0: linear);
    on the rotated moons a linear domain head was too weak to guide the alignment."""
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of: {', '.join(ACTIVATIONS)}"
        )
    features = nn.Sequential(nn.Linear(in_features, hidden), ACTIVATIONS[activation]())
    domain = _mlp([hidden, domain_hidden, 1] if domain_hidden else [hidden, 1])
    kwargs = dict(
        num_classes=num_classes,
        in_features=in_features,
        hidden=hidden,
        activation=activation,
        domain_hidden=domain_hidden,
    )
    spec = {"arch": "toy", "kwargs": kwargs}
    return DANN(features, nn.Linear(hidden, num_classes), domain, spec)


ARCHITECTURES = {"mnist": mnist_net, "svhn": svhn_net, "modern": modern_net, "toy": toy_net}


def build_model(arch: str, **kwargs) -> DANN:
    """Build a DANN by architecture name: one of ARCHITECTURES (mnist, svhn, modern, toy)."""
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {arch!r}; choose one of: {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch](**kwargs)
