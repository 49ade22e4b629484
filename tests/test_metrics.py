"""course_lib.metrics: the one perplexity convention (natural log, per predicted token)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.metrics import bits_per_character, mean_nll, perplexity, perplexity_from_nll

try:  # torch is optional for course_lib; the course environment has it
    import torch
except ImportError:  # pragma: no cover
    torch = None


@pytest.mark.parametrize("V", [1, 2, 50, 10_000])
def test_uniform_model_has_perplexity_V(V):
    M = 123
    assert perplexity_from_nll(M * math.log(V), M) == pytest.approx(V, rel=1e-12)
    assert perplexity(math.log(V)) == pytest.approx(V, rel=1e-12)
    assert bits_per_character(math.log(V)) == pytest.approx(math.log2(V), abs=1e-12)


def test_per_token_average_over_the_whole_split():
    # Two batches of unequal length: the split's perplexity weights tokens, not batches.
    nll_a, n_a, nll_b, n_b = 30.0, 10, 2.0, 1
    assert perplexity_from_nll(nll_a + nll_b, n_a + n_b) == pytest.approx(math.exp(32 / 11))
    assert perplexity_from_nll(nll_a + nll_b, n_a + n_b) != pytest.approx(math.exp((3.0 + 2.0) / 2))
    assert mean_nll(32.0, 11) == pytest.approx(32 / 11)


def test_bits_per_character_is_base_two():
    assert bits_per_character(math.log(2)) == pytest.approx(1.0)
    assert bits_per_character(0.0) == 0.0
    assert 2 ** bits_per_character(1.7) == pytest.approx(perplexity(1.7))


def test_accepts_numpy_and_torch_scalars():
    assert perplexity(np.float32(math.log(7))) == pytest.approx(7, rel=1e-6)
    assert perplexity_from_nll(np.float64(4 * math.log(3)), np.int64(4)) == pytest.approx(3)
    if torch is None:
        pytest.skip("torch is not installed")
    V, T, N = 13, 5, 4
    logits = torch.zeros(T * N, V)  # uniform predictions
    targets = torch.randint(0, V, (T * N,), generator=torch.Generator().manual_seed(0))
    loss = torch.nn.functional.cross_entropy(logits, targets)  # mean nats per token
    assert perplexity(loss) == pytest.approx(V, rel=1e-6)
    total = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
    assert perplexity_from_nll(total, T * N) == pytest.approx(V, rel=1e-6)


def test_overflow_gives_inf():
    assert perplexity(1e6) == math.inf


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: perplexity_from_nll(1.0, 0), "n_tokens"),
        (lambda: perplexity_from_nll(1.0, -3), "n_tokens"),
        (lambda: perplexity_from_nll(1.0, 2.5), "n_tokens"),
        (lambda: perplexity_from_nll(-1.0, 3), "total_nll"),
        (lambda: perplexity_from_nll("a", 3), "total_nll"),
        (lambda: perplexity(-0.1), "mean_loss"),
        (lambda: perplexity(float("nan")), "mean_loss"),
        (lambda: bits_per_character(-1.0), "mean_nat_loss"),
    ],
)
def test_bad_arguments(call, name):
    with pytest.raises(ValueError, match=rf"^{name}:"):
        call()
