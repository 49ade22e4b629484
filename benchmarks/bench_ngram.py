"""Held-out perplexity of n-gram language models: the table Chapter 1 reuses.

Corpora (word level, ``<eos>`` per line, course perplexity convention of
:mod:`course_lib.metrics`):

1. The prose of the Python documentation topics (``pydoc_data.topics``, ships with Python),
   blank lines dropped, the first 90% of the tokens for training and the last 10% held out
   (deterministic).
2. When the folder exists (``--wikitext DIR``, default ``../shared/data/wikitext-2`` next to
   the repository): trained on WikiText-2's ``valid.txt`` and evaluated on ``test.txt``.
   This data is never downloaded and never committed.

For each corpus: unigram, bigram, trigram and 5-gram, Laplace and interpolated modified
Kneser-Ney, with the share of held-out n-grams never seen in training and the fit and
evaluation wall-clock times. Run::

    .venv/bin/python benchmarks/bench_ngram.py

Options: ``--orders 1 2 3 5``, ``--smoothings laplace kneser-ney``, ``--wikitext DIR``.
This is a measurement, not a test: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from course_lib.data import load_text, python_docs_text, word_tokens  # noqa: E402
from course_lib.ngram import markdown_table, perplexity_table  # noqa: E402


def docs_split():
    tokens = word_tokens(python_docs_text(), skip_blank=True)
    cut = int(0.9 * len(tokens))
    return tokens[:cut], tokens[cut:]


def wikitext_split(folder: Path):
    return word_tokens(load_text(folder / "valid.txt")), word_tokens(load_text(folder / "test.txt"))


def report(title: str, train, test, orders, smoothings) -> None:
    train_types = set(train)
    oov = sum(t not in train_types for t in test) / len(test)
    print(f"### {title}\n")
    print(
        f"train {len(train):,} tokens, held out {len(test):,} tokens, "
        f"V = {len(train_types) + ('<unk>' not in train_types):,} (with <unk>), "
        f"held-out OOV rate {100 * oov:.1f}%\n"
    )
    t0 = time.perf_counter()
    rows = perplexity_table(train, test, orders=orders, smoothings=smoothings)
    print(markdown_table(rows))
    print(f"\n(total {time.perf_counter() - t0:.1f} s)\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--smoothings", nargs="+", default=["laplace", "kneser-ney"])
    parser.add_argument("--wikitext", type=Path, default=ROOT.parent / "shared" / "data" / "wikitext-2")
    args = parser.parse_args(argv)

    print("## n-gram language models: held-out perplexity\n")
    print(f"Python {platform.python_version()}, {platform.machine()}; natural log, per predicted token, "
          "<eos> counted; unseen n-grams = share of held-out n-gram occurrences absent from training.\n")
    train, test = docs_split()
    report("Python documentation prose (pydoc_data.topics), 90/10 split", train, test, args.orders, args.smoothings)
    folder = args.wikitext
    if (folder / "valid.txt").is_file() and (folder / "test.txt").is_file():
        train, test = wikitext_split(folder)
        report("WikiText-2: trained on valid.txt, evaluated on test.txt", train, test, args.orders, args.smoothings)
    else:
        print(f"(WikiText-2 not found at {folder}; skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
