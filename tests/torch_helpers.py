"""Helpers shared by the torch model and training tests."""

from __future__ import annotations

import pytest
import torch


def assert_close(a, b, atol=1e-6, rtol=1e-5, msg=""):
    """torch.testing.assert_close's check without its slow first import: |a - b| <= atol + rtol |b|."""
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    assert a.shape == b.shape, f"{msg} shape {tuple(a.shape)} != {tuple(b.shape)}"
    diff = (a.double() - b.double()).abs()
    bad = diff > atol + rtol * b.double().abs()
    assert not bool(bad.any()), f"{msg} max |a - b| = {float(diff.max()):.3e} (atol {atol}, rtol {rtol})"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # These models are tiny: one thread is faster than two fighting over shared cores.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
