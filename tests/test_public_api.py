"""The public API of course_lib: every name the book, the exercises, the grader and the tests
use still imports, from the path they use.

``PUBLIC_API`` lists them (dotted paths, as a reader would type them). It was collected from
the sources by :func:`used_names`; the last test re-collects and fails when something starts
using a name that is not on the list, so the list stays the whole API. The autograder's own
packages (course_lib.autograde, course_lib.grading) are being rewritten: only the names the
book and the notebooks use from them are listed.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
USERS = ("book", "solutions", "exercises", "course_lib/grading", "course_lib/autograde",
         "tests", "benchmarks")
# Readers and students; the only users whose names from the grader's packages count.
READERS = ("book", "solutions", "exercises")
OWN_API_OF_OTHERS = ("course_lib.autograde", "course_lib.grading")

PUBLIC_API = sorted("""
course_lib.data course_lib.data.CHILDRENS_BOOK_NAMES course_lib.data.CHILDRENS_BOOK_WORDS
course_lib.data.Corpus course_lib.data.EOS course_lib.data.Program course_lib.data.UNK
course_lib.data.Vocabulary course_lib.data.adding_task course_lib.data.alphabet
course_lib.data.batchify course_lib.data.batching course_lib.data.batching.batchify
course_lib.data.batching.get_batch course_lib.data.childrens_book
course_lib.data.classify_sentence course_lib.data.copy_task course_lib.data.corpora
course_lib.data.execute_program course_lib.data.get_batch course_lib.data.is_grammatical
course_lib.data.iter_batches course_lib.data.learning_to_execute course_lib.data.load_corpus
course_lib.data.load_text course_lib.data.num_batches course_lib.data.python_docs_text
course_lib.data.python_source_text course_lib.data.sentence_report
course_lib.data.split_sentences course_lib.data.tokenize course_lib.data.vocab
course_lib.data.word_tokens course_lib.gradcheck course_lib.gradcheck.GradCheckResult
course_lib.gradcheck.GradCheckRow course_lib.gradcheck.check_gradients
course_lib.gradcheck.numerical_gradient course_lib.gradcheck.rel_error course_lib.grading
course_lib.grading.Score course_lib.grading.ps1 course_lib.grading.ps2 course_lib.grading.ps3
course_lib.grading.ps4 course_lib.grading.ps5 course_lib.autograde.release course_lib.metrics
course_lib.grading.diagnose course_lib.grading.diagnose.report course_lib.grading.report
course_lib.data.vocab.Vocabulary course_lib.validate course_lib.validate.check_bool
course_lib.validate.check_cache course_lib.validate.check_choice course_lib.validate.check_int
course_lib.validate.check_number course_lib.validate.check_seed
course_lib.metrics.bits_per_character course_lib.metrics.mean_nll course_lib.metrics.perplexity
course_lib.metrics.perplexity_from_nll course_lib.ngram course_lib.ngram.NGramLM
course_lib.ngram.markdown_table course_lib.ngram.perplexity_table
course_lib.ngram.unseen_ngram_fraction course_lib.numpy_rnn course_lib.numpy_rnn.Adam
course_lib.numpy_rnn.NumpyLM course_lib.numpy_rnn.SGD course_lib.numpy_rnn.affine_backward
course_lib.numpy_rnn.affine_forward course_lib.numpy_rnn.clip_grad_norm
course_lib.numpy_rnn.convert course_lib.numpy_rnn.convert.from_torch
course_lib.numpy_rnn.convert.grads_from_torch course_lib.numpy_rnn.convert.to_torch
course_lib.numpy_rnn.embedding_backward course_lib.numpy_rnn.embedding_forward
course_lib.numpy_rnn.from_torch course_lib.numpy_rnn.grads_from_torch
course_lib.numpy_rnn.gru_backward course_lib.numpy_rnn.gru_forward
course_lib.numpy_rnn.gru_step_backward course_lib.numpy_rnn.gru_step_forward
course_lib.numpy_rnn.init_multilayer_params course_lib.numpy_rnn.layers course_lib.numpy_rnn.lm
course_lib.numpy_rnn.lm.Adam course_lib.numpy_rnn.lm.NumpyLM course_lib.numpy_rnn.lm.SGD
course_lib.numpy_rnn.lstm_backward course_lib.numpy_rnn.lstm_forward
course_lib.numpy_rnn.lstm_step_backward course_lib.numpy_rnn.lstm_step_forward
course_lib.numpy_rnn.multilayer_backward course_lib.numpy_rnn.multilayer_forward
course_lib.numpy_rnn.multilayer_param_names course_lib.numpy_rnn.rnn.rnn_step_forward
course_lib.numpy_rnn.rnn_backward course_lib.numpy_rnn.rnn_forward
course_lib.numpy_rnn.rnn_step_backward course_lib.numpy_rnn.rnn_step_forward
course_lib.numpy_rnn.sigmoid course_lib.numpy_rnn.softmax_cross_entropy
course_lib.numpy_rnn.stacked course_lib.numpy_rnn.stacked.init_multilayer_params
course_lib.numpy_rnn.stacked.multilayer_backward
course_lib.numpy_rnn.stacked.multilayer_forward
course_lib.numpy_rnn.stacked.multilayer_param_names course_lib.numpy_rnn.to_torch
course_lib.plots course_lib.torch_rnn course_lib.torch_rnn.BACKENDS
course_lib.torch_rnn.EncoderDecoder course_lib.torch_rnn.EncoderDecoder.beam_search
course_lib.torch_rnn.GRU course_lib.torch_rnn.GRUCell course_lib.torch_rnn.LSTM
course_lib.torch_rnn.LSTMCell course_lib.torch_rnn.MaskedRNN course_lib.torch_rnn.RNN
course_lib.torch_rnn.RNNCell course_lib.torch_rnn.RNNLM course_lib.torch_rnn.SeqClassifier
course_lib.torch_rnn.SeqTagger course_lib.torch_rnn.TrainConfig course_lib.torch_rnn.VecToSeq
course_lib.torch_rnn.available_devices course_lib.torch_rnn.cells.GRUCell
course_lib.torch_rnn.cells.LSTMCell course_lib.torch_rnn.cells.RNNCell
course_lib.torch_rnn.cells.gru_cell course_lib.torch_rnn.cells.lstm_cell
course_lib.torch_rnn.cells.rnn_cell course_lib.torch_rnn.default_device
course_lib.torch_rnn.detach_hidden course_lib.torch_rnn.device
course_lib.torch_rnn.device.available_devices course_lib.torch_rnn.device.default_device
course_lib.torch_rnn.device.resolve_device course_lib.torch_rnn.device.synchronize
course_lib.torch_rnn.evaluate course_lib.torch_rnn.fused course_lib.torch_rnn.get_backend
course_lib.torch_rnn.gru_cell course_lib.torch_rnn.lengths_to_mask
course_lib.torch_rnn.load_checkpoint course_lib.torch_rnn.lstm_cell
course_lib.torch_rnn.masked_cross_entropy course_lib.torch_rnn.models
course_lib.torch_rnn.models.EncoderDecoder course_lib.torch_rnn.models.MaskedRNN
course_lib.torch_rnn.models.RNNLM course_lib.torch_rnn.models.RNN_TYPES
course_lib.torch_rnn.models.SeqClassifier course_lib.torch_rnn.models.SeqTagger
course_lib.torch_rnn.models.VecToSeq course_lib.torch_rnn.models.detach_hidden
course_lib.torch_rnn.models.lengths_to_mask course_lib.torch_rnn.models.masked_cross_entropy
course_lib.torch_rnn.models.repackage_hidden course_lib.torch_rnn.modules
course_lib.torch_rnn.modules.BACKENDS course_lib.torch_rnn.modules.GRU
course_lib.torch_rnn.modules.LSTM course_lib.torch_rnn.modules.RNN
course_lib.torch_rnn.modules.get_backend course_lib.torch_rnn.modules.gru_loop
course_lib.torch_rnn.modules.lstm_loop course_lib.torch_rnn.modules.rnn_loop
course_lib.torch_rnn.modules.set_backend course_lib.torch_rnn.repackage_hidden
course_lib.torch_rnn.resolve_device course_lib.torch_rnn.rnn_cell course_lib.torch_rnn.sample
course_lib.torch_rnn.sampling course_lib.torch_rnn.sampling.sample
course_lib.torch_rnn.save_checkpoint course_lib.torch_rnn.set_backend
course_lib.torch_rnn.synchronize course_lib.torch_rnn.train
course_lib.torch_rnn.train.TrainConfig course_lib.torch_rnn.train.TrainState
course_lib.torch_rnn.train.batch_loss course_lib.torch_rnn.train.embedded_corpus
course_lib.torch_rnn.train.evaluate course_lib.torch_rnn.train.load_checkpoint
course_lib.torch_rnn.train.main course_lib.torch_rnn.train.resolve_device
course_lib.torch_rnn.train.resume_training course_lib.torch_rnn.train.save_checkpoint
course_lib.torch_rnn.train.train_epoch course_lib.torch_rnn.train.train_lm
course_lib.torch_rnn.train_lm course_lib.torch_rnn.training
""".split())


def _code(path: Path) -> list:
    """The Python code of a file: a .py file, a notebook's code cells, a MyST page's code cells."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        return [text]
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", text, re.S)


def _imports(code: str) -> set:
    code = "\n".join(line for line in code.split("\n") if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:        # a fragment in a page, not runnable code
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "course_lib":
            names |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.split(".")[0] == "course_lib"}
    return names


def _dotted(text: str) -> set:
    """``course_lib.a.b`` references in prose and code (``{py:func}`` roles, attribute use)."""
    return set(re.findall(r"\bcourse_lib(?:\.[A-Za-z_][A-Za-z0-9_]*)+", text))


def used_names(root: Path) -> set:
    """Every public course_lib name used under ``root``'s users (see the module docstring)."""
    found = set()
    for user in USERS:
        for path in sorted((root / user).rglob("*")):
            if path.suffix not in (".py", ".md", ".ipynb") or "_build" in path.parts \
                    or path.name in ("test_public_api.py", "test_imports.py"):
                continue
            names = set().union(*map(_imports, _code(path))) | _dotted(path.read_text(encoding="utf-8"))
            if user not in READERS:
                names = {n for n in names if not n.startswith(OWN_API_OF_OTHERS)}
            found |= {n for n in names if not any(p.startswith("_") for p in n.split(".")[1:])}
    return found


def resolve(dotted: str):
    """Import the longest module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("name", PUBLIC_API)
def test_public_name_still_imports(name):
    try:
        resolve(name)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"{name}: used by the book, the exercises, the grader or the tests, but "
                    f"it no longer imports ({type(err).__name__}: {err})")


def test_every_used_name_is_on_the_list():
    missing = sorted(used_names(ROOT) - set(PUBLIC_API))
    assert not missing, ("course_lib names used but not listed in PUBLIC_API (add them, so a "
                         "rename that breaks them fails here):\n" + "\n".join(missing))


def test_resolve_fails_on_a_removed_name():
    with pytest.raises(AttributeError):
        resolve("course_lib.torch_rnn.models.NoSuchModel")
    with pytest.raises(ModuleNotFoundError):
        resolve("course_lib_missing.x")
    assert resolve("course_lib.torch_rnn.models.RNNLM").__name__ == "RNNLM"
