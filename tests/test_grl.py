import pytest
import torch

from dannlib.grl import GradientReversal, grad_reverse


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0, torch.tensor(2.5)])
def test_forward_is_identity_and_backward_is_minus_lambda(lambd):
    x = torch.randn(5, 7, requires_grad=True)
    y = grad_reverse(x, lambd)
    assert torch.equal(y, x)
    upstream = torch.randn(5, 7)
    (grad,) = torch.autograd.grad(y, x, upstream)
    assert torch.allclose(grad, -float(lambd) * upstream)


def test_reversal_inside_a_random_function_matches_autograd():
    torch.manual_seed(0)
    x = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3, 2)

    def f(z):
        return torch.tanh(z @ w).pow(2).sum()

    (plain,) = torch.autograd.grad(f(x), x)
    (reversed_,) = torch.autograd.grad(f(grad_reverse(x, 0.7)), x)
    assert torch.allclose(reversed_, -0.7 * plain)


@pytest.mark.parametrize("lambd", [0.0, 0.25, 1.0, 3.0])
def test_jacobian_is_minus_lambda_times_the_identitys_in_double_precision(lambd):
    """The reversed gradient, read from autograd's Jacobian, against the identity's: fails for
    a layer that ignores lambda (or drops the sign) at any lambda but one."""
    x = torch.randn(3, 4, dtype=torch.double)
    jacobian = torch.autograd.functional.jacobian
    reversed_ = jacobian(lambda z: grad_reverse(z, lambd), x)
    identity = jacobian(lambda z: z.clone(), x)
    assert torch.equal(identity, torch.eye(12, dtype=torch.double).reshape(3, 4, 3, 4))
    assert torch.equal(reversed_, -lambd * identity)


def test_module_lambda_changes_take_effect_without_rebuilding():
    grl = GradientReversal(1.0)
    x = torch.ones(3, requires_grad=True)
    for lambd in (0.0, 0.5, 2.0):
        grl.lambd = lambd
        x.grad = None
        grl(x).sum().backward()
        assert torch.allclose(x.grad, torch.full((3,), -lambd))


def test_tensor_lambda_does_not_leak_a_graph():
    lambd = torch.tensor(0.5, requires_grad=True)
    x = torch.ones(2, requires_grad=True)
    grad_reverse(x, lambd * 2).sum().backward()
    assert lambd.grad is None
    assert torch.allclose(x.grad, torch.full((2,), -1.0))
