"""course_lib.numpy_rnn.layers: embedding, affine, softmax cross-entropy, clipping, sigmoid."""

import warnings

import numpy as np
import pytest
import torch

from course_lib.gradcheck import check_gradients, numerical_gradient, rel_error
from course_lib.numpy_rnn import (
    affine_backward,
    affine_forward,
    clip_grad_norm,
    embedding_backward,
    embedding_forward,
    sigmoid,
    softmax_cross_entropy,
)


def close(a, b, name=""):
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10, err_msg=name)


# --------------------------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------------------------

def test_sigmoid_matches_formula_and_is_stable():
    a = np.linspace(-30, 30, 61)
    close(sigmoid(a), 1 / (1 + np.exp(-a)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # an overflow would be a RuntimeWarning
        s = sigmoid(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5
    assert 0 < s[1] < 1e-21                          # no underflow to 0 where float64 can still hold it


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_keeps_dtype(dtype):
    assert sigmoid(np.array([[-100, 0, 100]], dtype=dtype)).dtype == dtype


# --------------------------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------------------------

def test_embedding_forward_is_row_lookup():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(7, 3))
    idx = np.array([[0, 6], [3, 3], [6, 1]])         # (T, N) with repeats
    out, _ = embedding_forward(idx, W)
    assert out.shape == (3, 2, 3)
    close(out[1, 0], W[3])
    close(out, np.eye(7)[idx] @ W)                   # the one-hot product it replaces


def test_embedding_backward_accumulates_repeats_and_matches_torch():
    rng = np.random.default_rng(1)
    V, D = 6, 4
    W = rng.normal(size=(V, D))
    idx = np.array([[0, 5, 5], [2, 5, 0]])
    dout = rng.normal(size=(2, 3, D))
    out, cache = embedding_forward(idx, W)
    dW = embedding_backward(dout, cache)
    Wt = torch.from_numpy(W.copy()).requires_grad_()
    torch.nn.functional.embedding(torch.from_numpy(idx), Wt).backward(torch.from_numpy(dout))
    close(dW, Wt.grad.numpy())
    num = numerical_gradient(lambda w: embedding_forward(idx, w)[0], W, df=dout)
    assert rel_error(dW, num) < 1e-7
    close(dW[5], dout[0, 1] + dout[0, 2] + dout[1, 1])   # three occurrences summed
    assert np.all(dW[[1, 3, 4]] == 0)


@pytest.mark.parametrize("bad", [np.array([[0, 7]]), np.array([[-1, 2]])])
def test_embedding_rejects_out_of_vocabulary(bad):
    W = np.zeros((7, 2))
    with pytest.raises(ValueError, match=r"idx: index -?\d+ is out of range, expected 0 <= idx < V = 7"):
        embedding_forward(bad, W)


def test_embedding_rejects_bad_types():
    with pytest.raises(ValueError, match="idx: expected an integer dtype"):
        embedding_forward(np.array([[0.0, 1.0]]), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"W: expected shape \(V, D\) \(rank 2\)"):
        embedding_forward(np.array([0]), np.zeros(3))
    out, cache = embedding_forward(np.array([[0, 1]]), np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"dout: expected shape .* = \(1, 2, 2\), got \(1, 2, 3\)"):
        embedding_backward(np.zeros((1, 2, 3)), cache)


# --------------------------------------------------------------------------------------------
# affine
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lead", [(3, 2), (4,), (1, 1)])
def test_affine_gradients(lead):
    rng = np.random.default_rng(len(lead))
    H, V = 3, 5
    inputs = dict(x=rng.normal(size=lead + (H,)), W=rng.normal(size=(H, V)), b=rng.normal(size=V))
    out, cache = affine_forward(**inputs)
    assert out.shape == lead + (V,)
    close(out, inputs["x"] @ inputs["W"] + inputs["b"])
    dout = rng.normal(size=out.shape)
    dx, dW, db = affine_backward(dout, cache)
    res = check_gradients(lambda **kw: affine_forward(**kw)[0], inputs, dict(x=dx, W=dW, b=db), df=dout)
    assert res.ok, str(res)


def test_affine_rejects_mismatch():
    x = np.zeros((3, 2, 4))
    with pytest.raises(ValueError, match=r"W: expected shape \(H, V\) = \(4, V\), got \(5, 6\)"):
        affine_forward(x, np.zeros((5, 6)), np.zeros(6))
    with pytest.raises(ValueError, match=r"b: expected shape \(V\) = \(6,\) \(rank 1\), got \(1, 6\)"):
        affine_forward(x, np.zeros((4, 6)), np.zeros((1, 6)))
    with pytest.raises(ValueError, match=r"x: expected shape \(T, N, H\) or \(N, H\)"):
        affine_forward(np.zeros(4), np.zeros((4, 6)), np.zeros(6))


# --------------------------------------------------------------------------------------------
# softmax cross-entropy
# --------------------------------------------------------------------------------------------

def _torch_ce(logits, targets, mask=None):
    lt = torch.from_numpy(logits.copy()).requires_grad_()
    V = logits.shape[-1]
    per = torch.nn.functional.cross_entropy(lt.reshape(-1, V), torch.from_numpy(targets).reshape(-1),
                                            reduction="none")
    m = torch.ones_like(per) if mask is None else torch.from_numpy(mask.astype(np.float64)).reshape(-1)
    loss = (per * m).sum() / m.sum()
    loss.backward()
    return loss.item(), lt.grad.numpy()


@pytest.mark.parametrize("use_mask", [False, True])
def test_softmax_cross_entropy_matches_torch(use_mask):
    rng = np.random.default_rng(2)
    T, N, V = 4, 3, 6
    logits = rng.normal(scale=0.5, size=(T, N, V))
    targets = rng.integers(0, V, size=(T, N))
    mask = rng.random((T, N)) > 0.4 if use_mask else None
    if use_mask:
        mask[0, 0] = True
    loss, dlogits = softmax_cross_entropy(logits, targets, mask)
    want_loss, want_grad = _torch_ce(logits, targets, mask)
    assert abs(loss - want_loss) < 1e-12
    close(dlogits, want_grad)
    if use_mask:
        assert np.all(dlogits[~mask] == 0)           # ignored positions get no gradient
    num = numerical_gradient(lambda s: softmax_cross_entropy(s, targets, mask)[0], logits)
    assert rel_error(dlogits, num) < 1e-7


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1e4, 0.0, -1e4], [5e3, 5e3, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss, d = softmax_cross_entropy(logits, np.array([1, 0]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert abs(loss - (1e4 + np.log(2)) / 2) < 1e-9   # (1e4 - 0) for row 0, log 2 for row 1
    # shift invariance: adding a constant to a row changes nothing
    l2, d2 = softmax_cross_entropy(logits - 123.0, np.array([1, 0]))
    assert abs(loss - l2) < 1e-9
    close(d, d2)


def test_softmax_cross_entropy_uniform_is_log_v():
    loss, _ = softmax_cross_entropy(np.zeros((5, 2, 10)), np.zeros((5, 2), dtype=np.int64))
    assert abs(loss - np.log(10)) < 1e-12


def test_softmax_cross_entropy_validation():
    logits = np.zeros((3, 2, 5))
    with pytest.raises(ValueError, match=r"targets: index 5 is out of range, expected 0 <= targets < V = 5"):
        softmax_cross_entropy(logits, np.full((3, 2), 5))
    with pytest.raises(ValueError, match=r"targets: expected shape \(\.\.\., \.\.\.\) = \(3, 2\)"):
        softmax_cross_entropy(logits, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="targets: expected an integer dtype"):
        softmax_cross_entropy(logits, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"mask: expected shape"):
        softmax_cross_entropy(logits, np.zeros((3, 2), dtype=int), mask=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="mask: selects no position"):
        softmax_cross_entropy(logits, np.zeros((3, 2), dtype=int), mask=np.zeros((3, 2), dtype=bool))


# --------------------------------------------------------------------------------------------
# clipping
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("as_dict", [True, False])
def test_clip_grad_norm_matches_torch(max_norm, as_dict):
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=s) for s in [(3, 4), (4,), (2, 2, 2)]]
    originals = [a.copy() for a in arrays]
    tensors = [torch.zeros(a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
    for t, a in zip(tensors, arrays):
        t.grad = torch.from_numpy(a.copy())
    want = torch.nn.utils.clip_grad_norm_(tensors, max_norm).item()
    grads = {f"g{k}": a for k, a in enumerate(arrays)} if as_dict else arrays
    got = clip_grad_norm(grads, max_norm)
    assert abs(got - want) < 1e-12
    assert abs(got - np.sqrt(sum((o ** 2).sum() for o in originals))) < 1e-12   # norm *before*
    for a, t in zip(arrays, tensors):                 # scaled in place, the same arrays
        close(a, t.grad.numpy())
    if max_norm > got:
        for a, o in zip(arrays, originals):
            np.testing.assert_array_equal(a, o)
    else:
        assert abs(np.sqrt(sum((a ** 2).sum() for a in arrays)) - max_norm) < 1e-5


def test_clip_grad_norm_keeps_float32_and_validates():
    g = [np.full((3,), 10.0, dtype=np.float32)]
    norm = clip_grad_norm(g, 1.0)
    assert g[0].dtype == np.float32 and abs(norm - np.sqrt(300)) < 1e-4
    assert abs(np.linalg.norm(g[0]) - 1.0) < 1e-5
    with pytest.raises(ValueError, match="max_norm: expected a finite number > 0"):
        clip_grad_norm(g, 0)
    with pytest.raises(ValueError, match=r"grads\[0\]: expected a numpy array"):
        clip_grad_norm([[1.0, 2.0]], 1.0)
    with pytest.raises(ValueError, match="grads: expected a dict or a list"):
        clip_grad_norm(np.ones(3), 1.0)


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_dtype(dtype):
    rng = np.random.default_rng(4)
    W = rng.normal(size=(5, 3)).astype(dtype)
    idx = np.array([[0, 4], [2, 2]])
    emb, ce = embedding_forward(idx, W)
    assert emb.dtype == dtype and embedding_backward(emb, ce).dtype == dtype
    Wa, ba = rng.normal(size=(3, 5)).astype(dtype), np.zeros(5, dtype)
    s, ca = affine_forward(emb, Wa, ba)
    assert s.dtype == dtype and all(g.dtype == dtype for g in affine_backward(s, ca))
    loss, ds = softmax_cross_entropy(s, idx)
    assert loss.dtype == dtype and ds.dtype == dtype
    with pytest.raises(ValueError, match="W: expected dtype"):
        affine_forward(emb, Wa.astype(np.float16), ba)
