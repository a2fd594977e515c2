import pytest
import torch
import torch.nn.functional as F

from dannlib.models import ARCHITECTURES, build_model


@pytest.mark.parametrize(
    "arch, size", [("mnist", 28), ("mnist", 32), ("modern", 28), ("modern", 32), ("svhn", 32)]
)
def test_output_shapes_and_single_domain_logit(arch, size):
    torch.manual_seed(0)
    model = build_model(arch, size=size).eval()
    class_logits, domain_logit = model(torch.rand(4, 3, size, size))
    assert class_logits.shape == (4, 10)
    assert domain_logit.shape == (4,)


def test_toy_net_has_15_hidden_units():
    model = build_model("toy")
    assert model.features(torch.zeros(1, 2)).shape == (1, 15)
    logits, domain = model(torch.zeros(5, 2))
    assert logits.shape == (5, 2) and domain.shape == (5,)


def test_unknown_architecture_lists_choices():
    with pytest.raises(ValueError, match=", ".join(ARCHITECTURES)):
        build_model("resnet")
    for arch in ARCHITECTURES:  # every listed name builds its network and records it
        assert build_model(arch).spec["arch"] == arch
    with pytest.raises(ValueError, match="relu, sigmoid, tanh"):
        build_model("toy", activation="gelu")


def _feature_grad_from_domain_loss(model, lambd):
    x = torch.rand(8, 3, 28, 28)
    domains = torch.tensor([0.0] * 4 + [1.0] * 4)
    model.zero_grad()
    _, domain_logit = model(x, lambd)
    F.binary_cross_entropy_with_logits(domain_logit, domains).backward()
    feature_grad = sum(p.grad.abs().sum() for p in model.features.parameters())
    head_grad = sum(p.grad.abs().sum() for p in model.domain_head.parameters())
    return float(feature_grad), float(head_grad)


def test_domain_loss_reaches_features_in_dann_mode_only():
    """Guards against a softmax over one domain logit, a missing GRL, or lambda stuck at 0."""
    torch.manual_seed(0)
    model = build_model("mnist")
    features_dann, head_dann = _feature_grad_from_domain_loss(model, 1.0)
    features_src, head_src = _feature_grad_from_domain_loss(model, 0.0)
    assert features_dann > 1e-6 and head_dann > 1e-6
    assert features_src == 0.0 and head_src > 1e-6  # source-only: the head learns, features don't


def test_one_dann_step_increases_the_domain_loss_on_the_features():
    """The GRL sign: a step on the features moves them to confuse the (fixed) domain head."""
    torch.manual_seed(0)
    model = build_model("mnist")
    x = torch.rand(16, 3, 28, 28)
    domains = torch.tensor([0.0] * 8 + [1.0] * 8)
    opt = torch.optim.SGD(model.features.parameters(), lr=0.05)

    def domain_loss():
        return F.binary_cross_entropy_with_logits(model(x, 1.0)[1], domains)

    before = domain_loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = domain_loss()
    assert after > before.detach()
