"""Offline corpora, vocabularies and batch-ification for the course's language models.

Everything here runs without a network: corpora are generated (alphabet, children's book,
learning-to-execute programs, copy and adding tasks) or ship with Python (documentation
prose, standard-library source), plus loaders for a user's own text.

Shapes are time-major: :func:`batchify` turns a stream of S ids into (T, N) with
T = S // N, and :func:`get_batch` slices (L, N) windows x and their targets y.
"""

from .batching import batchify, get_batch, iter_batches, num_batches
from .vocab import EOS, UNK, Vocabulary, tokenize, word_tokens
from .corpora import (
    CHILDRENS_BOOK_NAMES,
    CHILDRENS_BOOK_WORDS,
    Corpus,
    Program,
    adding_task,
    alphabet,
    childrens_book,
    classify_sentence,
    copy_task,
    execute_program,
    is_grammatical,
    learning_to_execute,
    load_corpus,
    load_text,
    python_docs_text,
    python_source_text,
    sentence_report,
    split_sentences,
)

__all__ = [
    "batchify", "get_batch", "iter_batches", "num_batches",
    "EOS", "UNK", "Vocabulary", "tokenize", "word_tokens",
    "alphabet", "CHILDRENS_BOOK_NAMES", "CHILDRENS_BOOK_WORDS", "childrens_book",
    "split_sentences", "classify_sentence", "is_grammatical", "sentence_report",
    "Program", "learning_to_execute", "execute_program", "copy_task", "adding_task",
    "python_docs_text", "python_source_text", "load_text", "Corpus", "load_corpus",
]
