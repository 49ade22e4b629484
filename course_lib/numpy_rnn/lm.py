"""A small NumPy language model trained with truncated BPTT.

The model of the book's first chapters, every piece a NumPy forward/backward pair:

.. math::

    e[t] = W_{emb}[w_t] \\quad (T, N, E) \\\\
    h[t] = \\mathrm{cell}(e[t], h[t-1]) \\quad (T, N, H) \\quad
        \\text{(RNN, LSTM or GRU; L layers)} \\\\
    s[t] = h[t]\\, W_{out} + b_{out} \\quad (T, N, V) \\\\
    \\mathcal{L} = -\\frac{1}{TN} \\sum_{t, n} \\ln \\mathrm{softmax}(s[t, n])_{w_{t+1}}

Training follows pytorch/examples' ``word_language_model``: the token stream is
cut into N columns by :func:`course_lib.data.batchify`, windows of ``bptt`` rows
come from :func:`course_lib.data.get_batch`, the hidden state of one window is
the initial state of the next (so the model sees an unbroken stream) but the
gradient stops at the window boundary (truncated BPTT): the carried state is a
plain array, and :func:`multilayer_backward` is called without ``dh_n``.
"""

from __future__ import annotations

import math

import numpy as np

from ..data import batchify, get_batch, iter_batches
from ..metrics import perplexity_from_nll
from ..validate import check_choice, check_int, check_number, check_seed
from .layers import (affine_backward, affine_forward, clip_grad_norm, embedding_backward,
                     embedding_forward, softmax_cross_entropy)
from .stacked import init_multilayer_params, multilayer_backward, multilayer_forward

__all__ = ["NumpyLM", "SGD", "Adam"]


class SGD:
    """Stochastic gradient descent with optional momentum, in place.

    .. math::

        v \\leftarrow \\mu v + g, \\qquad \\theta \\leftarrow \\theta - \\eta v

    (``momentum=0`` is plain :math:`\\theta \\leftarrow \\theta - \\eta g`; this is
    torch.optim.SGD's formulation.)

    Parameters
    ----------
    lr : float
        Learning rate :math:`\\eta > 0`.
    momentum : float
        :math:`\\mu \\in [0, 1)`.
    """

    def __init__(self, lr=1.0, momentum=0.0):
        if not lr > 0:
            raise ValueError(f"lr: expected a positive learning rate, got {lr!r}")
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum: expected a number in [0, 1), got {momentum!r}")
        self.lr, self.momentum = float(lr), float(momentum)
        self.velocity = {}

    def step(self, params, grads):
        """Update every ``params[k]`` in place from ``grads[k]`` (same keys, shapes, dtypes)."""
        for k, g in grads.items():
            p = params[k]
            if self.momentum:
                v = self.velocity.setdefault(k, np.zeros_like(p))
                v *= self.momentum
                v += g
                g = v
            p -= self.lr * g


class Adam:
    """Adam (Kingma & Ba, 2015), in place, as torch.optim.Adam.

    .. math::

        m &\\leftarrow \\beta_1 m + (1-\\beta_1) g,\\\\
        v &\\leftarrow \\beta_2 v + (1-\\beta_2) g^2,\\\\
        \\theta &\\leftarrow \\theta - \\eta\\, \\frac{m / (1-\\beta_1^k)}{\\sqrt{v / (1-\\beta_2^k)} + \\epsilon}

    Parameters
    ----------
    lr : float
        :math:`\\eta > 0`.
    betas : (float, float)
        :math:`(\\beta_1, \\beta_2)`, each in [0, 1).
    eps : float
        :math:`\\epsilon > 0`.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        if not lr > 0:
            raise ValueError(f"lr: expected a positive learning rate, got {lr!r}")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"betas: expected two numbers in [0, 1), got {betas!r}")
        if not eps > 0:
            raise ValueError(f"eps: expected a positive number, got {eps!r}")
        self.lr, self.betas, self.eps = float(lr), tuple(map(float, betas)), float(eps)
        self.m, self.v, self.k = {}, {}, 0

    def step(self, params, grads):
        """Update every ``params[k]`` in place from ``grads[k]`` (same keys, shapes, dtypes)."""
        self.k += 1
        b1, b2 = self.betas
        # bias corrections folded into the step size, as torch does
        c1, c2 = 1 - b1 ** self.k, 1 - b2 ** self.k
        step_size = self.lr / c1
        for key, g in grads.items():
            p = params[key]
            m = self.m.setdefault(key, np.zeros_like(p))
            v = self.v.setdefault(key, np.zeros_like(p))
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= step_size * m / (np.sqrt(v / c2) + self.eps)


def _check_ids(name, ids, V, ndim):
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name}: expected an integer numpy array, got "
                         f"{getattr(ids, 'dtype', type(ids).__name__)}")
    if ids.ndim != ndim:
        want = "(T, N)" if ndim == 2 else "(S,)"
        raise ValueError(f"{name}: expected shape {want}, got {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"{name}: expected token ids in [0, V) = [0, {V}), got values in "
                         f"[{ids.min()}, {ids.max()}]")


class NumpyLM:
    """Embedding -> RNN/LSTM/GRU (L layers) -> affine -> softmax language model in NumPy.

    Parameters (``self.params``, a dict of arrays of ``dtype``):

    ================  ============  ===================================================
    ``W_embed``       (V, E)        embedding, U(-0.1, 0.1) as in word_language_model
    ``Wx_l0`` ...     see stacked   the recurrent cell(s), torch.nn's initialisation
    ``W_out``         (H, V)        output projection, U(-0.1, 0.1)
    ``b_out``         (V,)          output bias, zeros
    ================  ============  ===================================================

    A hidden state is ``h`` (L, N, H) for an RNN/GRU and the pair ``(h, c)`` for an LSTM.

    Parameters
    ----------
    vocab_size : int
        V.
    embed_dim : int
        E.
    hidden_size : int
        H.
    cell : {"rnn", "lstm", "gru"}
    seed : int or numpy.random.Generator or None
        Initialisation.
    dtype : numpy float dtype
        float32 (fast) or float64 (gradient checks).
    num_layers : int
        L.
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, cell="lstm", seed=0,
                 dtype=np.float32, num_layers=1):
        for name, v in (("vocab_size", vocab_size), ("embed_dim", embed_dim),
                        ("hidden_size", hidden_size), ("num_layers", num_layers)):
            check_int(v, name)
        check_choice(cell, "cell", ("rnn", "lstm", "gru"))
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype: expected float32 or float64, got {dtype}")
        self.V, self.E, self.H, self.L = int(vocab_size), int(embed_dim), int(hidden_size), int(num_layers)
        self.cell, self.dtype = cell, dtype
        rng = check_seed(seed)
        self.params = {"W_embed": rng.uniform(-0.1, 0.1, (self.V, self.E)).astype(dtype)}
        self.params.update(init_multilayer_params(cell, self.E, self.H, self.L, seed=rng,
                                                  dtype=dtype))
        self.params["W_out"] = rng.uniform(-0.1, 0.1, (self.H, self.V)).astype(dtype)
        self.params["b_out"] = np.zeros(self.V, dtype=dtype)
        self._rnn_keys = [k for k in self.params if k not in ("W_embed", "W_out", "b_out")]
        self.optimizer = None

    # ---------------------------------------------------------------------------------------
    # forward / backward
    # ---------------------------------------------------------------------------------------

    def init_hidden(self, batch_size):
        """Zero state for ``batch_size`` columns: (L, N, H), or a pair of them for an LSTM."""
        z = np.zeros((self.L, batch_size, self.H), dtype=self.dtype)
        return (z, z.copy()) if self.cell == "lstm" else z

    def _split_hidden(self, hidden, N):
        if hidden is None:
            hidden = self.init_hidden(N)
        if self.cell == "lstm":
            if not (isinstance(hidden, tuple) and len(hidden) == 2):
                raise ValueError("h: expected the LSTM state as a pair (h, c) of (L, N, H) arrays")
            return hidden
        return hidden, None

    def forward(self, x, h=None):
        """Scores of the next token at every position.

        Parameters
        ----------
        x : ndarray of int, (T, N)
            Token ids in [0, V).
        h : state or None
            Initial state ((L, N, H), or a pair for an LSTM); None is zeros.

        Returns
        -------
        scores : ndarray, (T, N, V)
        h_final : state
            The state after the last step (fresh arrays).
        cache : tuple
            For :meth:`backward`.
        """
        _check_ids("x", x, self.V, 2)
        p = self.params
        h0, c0 = self._split_hidden(h, x.shape[1])
        e, emb_cache = embedding_forward(x, p["W_embed"])                  # (T, N, E)
        out, h_n, c_n, rnn_cache = multilayer_forward(
            e, h0, {k: p[k] for k in self._rnn_keys}, cell=self.cell,
            num_layers=self.L, bidirectional=False, c0=c0)                 # (T, N, H)
        scores, aff_cache = affine_forward(out, p["W_out"], p["b_out"])    # (T, N, V)
        h_final = (h_n, c_n) if self.cell == "lstm" else h_n
        return scores, h_final, (emb_cache, rnn_cache, aff_cache)

    def backward(self, dscores, cache):
        """Gradients of every parameter from the gradient on the scores (T, N, V).

        The gradient on the final state is zero: this is where truncated BPTT cuts.
        """
        emb_cache, rnn_cache, aff_cache = cache
        dout, dW_out, db_out = affine_backward(dscores, aff_cache)         # (T, N, H)
        de, _, _, rnn_grads = multilayer_backward(dout, rnn_cache)         # (T, N, E)
        grads = {"W_embed": embedding_backward(de, emb_cache)}
        grads.update(rnn_grads)
        grads["W_out"], grads["b_out"] = dW_out, db_out
        return grads

    def loss_and_grads(self, x, y, h=None, mask=None):
        """Mean cross-entropy of the next-token predictions and its gradients.

        .. math::

            \\mathcal{L} &= -\\frac{1}{\\sum m} \\sum_{t, n} m[t, n]\\\\
            &\\qquad \\cdot \\ln p(y[t, n] \\mid x[\\le t, n], h)

        Parameters
        ----------
        x, y : ndarray of int, (T, N)
            Inputs and targets (``y[t] = x[t + 1]`` in a stream).
        h : state or None
            Initial state, e.g. the final state of the previous window (no
            gradient flows into it).
        mask : ndarray (T, N) or None
            Weight of each position (see :func:`softmax_cross_entropy`).

        Returns
        -------
        loss : float
            Mean negative log-likelihood, nats.
        grads : dict
            Same keys, shapes and dtype as ``self.params``.
        h_final : state
            State after the last step, to carry into the next window.
        """
        scores, h_final, cache = self.forward(x, h)
        _check_ids("y", y, self.V, 2)
        if y.shape != x.shape:
            raise ValueError(f"y: expected shape (T, N) = {x.shape} like x, got {y.shape}")
        loss, dscores = softmax_cross_entropy(scores, y, mask)
        return float(loss), self.backward(dscores, cache), h_final

    def loss(self, x, y, h=None, mask=None):
        """Like :meth:`loss_and_grads` without the backward pass: ``(loss, h_final)``."""
        scores, h_final, _ = self.forward(x, h)
        _check_ids("y", y, self.V, 2)
        if y.shape != x.shape:
            raise ValueError(f"y: expected shape (T, N) = {x.shape} like x, got {y.shape}")
        loss, _ = softmax_cross_entropy(scores, y, mask)
        return float(loss), h_final

    # ---------------------------------------------------------------------------------------
    # evaluation
    # ---------------------------------------------------------------------------------------

    def _stream(self, ids, batch_size):
        ids = np.asarray(ids)
        _check_ids("ids", ids, self.V, 1)
        if len(ids) < 2 * batch_size:
            raise ValueError(f"ids: expected at least 2 * batch_size = {2 * batch_size} tokens, "
                             f"got {len(ids)}")
        return batchify(ids, batch_size)                                   # (T, N)

    def evaluate(self, ids, batch_size=10, bptt=100):
        """Mean negative log-likelihood per predicted token (nats) on a 1-D stream.

        The stream is batchified into ``batch_size`` columns and read window by
        window with the state carried across windows; the mean is the summed
        loss over all predicted tokens divided by their number (not a mean of
        window means, which the short last window would bias).

        Parameters
        ----------
        ids : array-like of int, (S,)
        batch_size : int
        bptt : int
            Window length (does not change the result, only the memory).

        Returns
        -------
        float
        """
        total, count = self._nll(ids, batch_size, bptt)
        return total / count

    def _nll(self, ids, batch_size, bptt):
        source = self._stream(ids, batch_size)
        h, total, count = None, 0.0, 0
        for _, x, y in iter_batches(source, bptt):   # (L, N), (L, N)
            loss, h = self.loss(x, y, h)
            total += loss * y.size
            count += y.size
        return total, count

    def perplexity(self, ids, batch_size=10, bptt=100):
        """:math:`\\exp` of :meth:`evaluate` (natural logs, per predicted token).

        Parameters
        ----------
        ids : array-like of int, (S,)
        batch_size, bptt : int
            As in :meth:`evaluate`.

        Returns
        -------
        float
        """
        total, count = self._nll(ids, batch_size, bptt)
        return perplexity_from_nll(total, count)

    # ---------------------------------------------------------------------------------------
    # generation
    # ---------------------------------------------------------------------------------------

    def sample(self, prefix, n, temperature=1.0, seed=None):
        """Generate ``n`` tokens after ``prefix``, one at a time.

        .. math::

            w_{t+1} \\sim \\mathrm{softmax}(s[t] / \\tau)

        with :math:`\\tau` = ``temperature`` (``0`` picks the argmax, greedy decoding).

        Parameters
        ----------
        prefix : array-like of int, (P,), P >= 1
            Conditioning ids, read with a zero initial state.
        n : int
            Number of tokens to generate, >= 0.
        temperature : float
            >= 0.
        seed : int or numpy.random.Generator or None
            A fixed seed gives the same ids every time.

        Returns
        -------
        ndarray of int64, (n,)
            The generated ids (without the prefix).
        """
        prefix = np.asarray(prefix)
        _check_ids("prefix", prefix, self.V, 1)
        if len(prefix) < 1:
            raise ValueError("prefix: expected at least one token id, got an empty sequence")
        check_int(n, "n", 0)
        check_number(temperature, "temperature", 0)
        rng = check_seed(seed)
        out = np.empty(n, dtype=np.int64)
        scores, h, _ = self.forward(prefix.astype(np.int64)[:, None])       # (P, 1, V)
        for k in range(n):
            s = scores[-1, 0].astype(np.float64)                           # (V,)
            if temperature == 0:
                w = int(np.argmax(s))
            else:
                s = s / temperature
                p = np.exp(s - s.max())
                p /= p.sum()
                # inverse-CDF draw: one uniform per token, so a seed fixes the sequence
                w = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right")),
                        self.V - 1)
            out[k] = w
            if k + 1 < n:
                scores, h, _ = self.forward(np.array([[w]], dtype=np.int64), h)
        return out

    # ---------------------------------------------------------------------------------------
    # training
    # ---------------------------------------------------------------------------------------

    def train(self, ids, epochs=None, steps=None, bptt=35, batch_size=20, lr=2e-3,
              optimizer="adam", clip=5.0, valid_ids=None, seed=0, eval_batch_size=10):
        """Train with truncated BPTT on a 1-D token stream.

        One step: a window ``x, y = get_batch(source, i, bptt)`` (L, N), forward
        from the previous window's final state, backward with the gradient cut
        at the window's start, global-norm clipping, one optimizer update. Each
        epoch after the first starts at a random offset in ``[0, bptt)`` so that
        the window boundaries move (the state restarts from zero each epoch).

        Parameters
        ----------
        ids : array-like of int, (S,)
            Training stream.
        epochs : int or None
            Number of passes over the stream.
        steps : int or None
            Maximum number of updates in total (stops mid-epoch). At least one
            of ``epochs``, ``steps`` must be given; training stops at whichever
            comes first.
        bptt : int
            Window length (truncation horizon).
        batch_size : int
            N, the number of columns of the batchified stream.
        lr : float
            Learning rate.
        optimizer : {"adam", "sgd"} or an object with ``step(params, grads)``
            A string makes a fresh optimizer; pass ``self.optimizer`` to continue
            a previous run with its state.
        clip : float or None
            Max global gradient norm (:func:`clip_grad_norm`); None disables clipping.
        valid_ids : array-like of int or None
            Evaluated (mean nats/token) after every epoch and at the end.
        seed : int or None
            Window offsets of epochs after the first.
        eval_batch_size : int
            Columns used to evaluate ``valid_ids``.

        Returns
        -------
        dict
            ``loss`` (per step, nats), ``grad_norm`` (per step, before clipping),
            ``valid_loss`` (per evaluation), ``valid_step`` (step of each evaluation),
            ``steps`` (total updates).
        """
        if epochs is None and steps is None:
            raise ValueError("epochs, steps: expected at least one training budget, got both None")
        check_int(epochs, "epochs", optional=True)
        check_int(steps, "steps", optional=True)
        check_int(bptt, "bptt")
        if clip is not None and not clip > 0:
            raise ValueError(f"clip: expected a positive max norm or None, got {clip!r}")
        if isinstance(optimizer, str):
            if optimizer == "adam":
                optimizer = Adam(lr)
            elif optimizer == "sgd":
                optimizer = SGD(lr)
            else:
                raise ValueError(f"optimizer: expected 'adam', 'sgd' or an optimizer object, "
                                 f"got {optimizer!r}")
        elif not hasattr(optimizer, "step"):
            raise ValueError(f"optimizer: expected 'adam', 'sgd' or an object with .step(params, "
                             f"grads), got {type(optimizer).__name__}")
        self.optimizer = optimizer
        source = self._stream(ids, batch_size)                             # (T, N)
        T = source.shape[0]
        rng = np.random.default_rng(seed)
        history = {"loss": [], "grad_norm": [], "valid_loss": [], "valid_step": [], "steps": 0}
        step, epoch = 0, 0
        while (epochs is None or epoch < epochs) and (steps is None or step < steps):
            start = 0 if epoch == 0 else int(rng.integers(0, min(bptt, T - 1)))
            h = None                                                       # fresh state per epoch
            # Not iter_batches: after the first epoch the windows start at a random offset.
            for i in range(start, T - 1, bptt):
                x, y = get_batch(source, i, bptt)                          # (L, N), (L, N)
                # h is a plain array from the last window: no gradient flows back into it
                loss, grads, h = self.loss_and_grads(x, y, h)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {step}; lower lr or clip")
                if clip is not None:
                    norm = clip_grad_norm(grads, clip)
                else:
                    norm = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2))
                                         for g in grads.values()))
                optimizer.step(self.params, grads)
                history["loss"].append(loss)
                history["grad_norm"].append(norm)
                step += 1
                if steps is not None and step >= steps:
                    break
            epoch += 1
            if valid_ids is not None:
                history["valid_loss"].append(self.evaluate(valid_ids, eval_batch_size))
                history["valid_step"].append(step)
        history["steps"] = step
        return history
