"""The models of the course in one namespace (kept so that ``from course_lib.torch_rnn.models
import X`` keeps working); each lives in the module of its family:

- :mod:`~course_lib.torch_rnn.lm`: :class:`RNNLM`, the language model of Chapter 1;
- :mod:`~course_lib.torch_rnn.patterns`: :class:`SeqClassifier`, :class:`VecToSeq`,
  :class:`SeqTagger`, :class:`EncoderDecoder`, the design patterns of Chapter 4;
- :mod:`~course_lib.torch_rnn.masked`: :class:`MaskedRNN`, :func:`lengths_to_mask`,
  :func:`masked_cross_entropy`, what variable-length batches need;
- :mod:`~course_lib.torch_rnn.decoding`: greedy, sampled and beam-search decoding;
- :mod:`~course_lib.torch_rnn.recurrent`: :data:`RNN_TYPES`, :func:`detach_hidden`, the
  recurrent layer every model is built on.
"""

from .lm import RNNLM
from .masked import MaskedRNN, lengths_to_mask, masked_cross_entropy
from .patterns import EncoderDecoder, SeqClassifier, SeqTagger, VecToSeq
from .recurrent import RNN_TYPES, detach_hidden, repackage_hidden

__all__ = [
    "RNN_TYPES",
    "detach_hidden",
    "repackage_hidden",
    "lengths_to_mask",
    "masked_cross_entropy",
    "MaskedRNN",
    "RNNLM",
    "SeqClassifier",
    "VecToSeq",
    "SeqTagger",
    "EncoderDecoder",
]
