"""Reference implementations for the Recurrent Neural Networks course.

Subpackages
-----------
numpy_rnn   NumPy forward/backward pairs (RNN, LSTM, GRU, layers) with hand-derived BPTT.
torch_rnn   The same cells as torch.nn.Modules that run on CPU or GPU, models and training.
data        Offline corpora, vocabularies, batchify/get_batch.
ngram       n-gram language models and the course's perplexity convention.
gradcheck   Numerical gradients and rel_error.
metrics     Mean negative log-likelihood, perplexity, bits per character.
validate    The argument checks every public function uses (one message style).
plots       The one figure style of the book.
grading     Helpers the exercise notebooks' tests use.
autograde   The instructor's grading runner (the ``rnn-course`` command).

Conventions (see DESIGN.md and CONTRIBUTING.md at the repository's root): time-major shapes
(T, N, D); row-vector weights h[t] = tanh(x[t] @ Wx + h[t-1] @ Wh + b); gates stacked in
torch.nn's order.
"""

__version__ = "0.1.0"
