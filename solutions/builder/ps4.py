"""ps4-design-patterns: a seq->vec classifier and an encoder-decoder in torch."""

from nb import md, setup, solution, test, notebook

TITLE = "Problem set 4: design patterns"

CELLS = [
    md(r"""
    # Problem set 4: design patterns

    Chapter 4 of the book. Two of the chapter's patterns in PyTorch: a **seq->vec** classifier
    that reads a padded batch of variable-length sequences, and a **seq->seq** encoder-decoder
    trained with teacher forcing and decoded greedily. Use `torch.nn` layers
    (`nn.Embedding`, `nn.RNN`/`nn.GRU`/`nn.LSTM`, `nn.Linear`); `course_lib.torch_rnn` is the
    course's reference and is sealed while your code is graded.

    Shapes are time-major: token ids `x (T, N)` (`torch.long`), padding id `0` after each
    sequence's length, `lengths (N,)`. The tests check behaviour: shapes, that padding never
    changes a prediction, that step $t$ of the decoder sees only the targets before it, and the
    accuracy your classifier reaches with a fixed training budget.
    """),
    setup("setup", """
    import numpy as np
    import torch
    from torch import nn

    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)  # small models: threads cost more than they give

    from course_lib.grading import Score
    from course_lib.grading import ps4
    """),
    md(r"""
    ## Task 1: a seq->vec classifier

    `SeqClassifier(vocab_size, embed_dim, hidden_size, num_classes)`; `forward(x, lengths)`
    embeds `x (T, N)` to `(T, N, E)`, runs a recurrent layer to `out (T, N, H)`, and classifies
    each sequence from its **last valid** hidden state $h[\ell_n - 1]$ (not $h[T-1]$, which
    has read the padding): `logits (N, C) = h_last @ W + b`. The data set (`ps4.classification_data`):
    tokens 1..4, the label is the first token - 1, lengths 3..8.
    """),
    solution("SeqClassifier", '''
    class SeqClassifier(nn.Module):
        """Embedding -> GRU -> the state at each sequence's last valid step -> Linear."""

        def __init__(self, vocab_size, embed_dim, hidden_size, num_classes):
            super().__init__()
            ### BEGIN SOLUTION
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.rnn = nn.GRU(embed_dim, hidden_size)
            self.out = nn.Linear(hidden_size, num_classes)
            ### END SOLUTION

        def forward(self, x, lengths):
            """x (T, N) long, lengths (N,) -> logits (N, C)."""
            ### BEGIN SOLUTION
            h, _ = self.rnn(self.embed(x))                          # (T, N, H)
            last = h[lengths - 1, torch.arange(x.shape[1])]         # (N, H)
            return self.out(last)
            ### END SOLUTION
    '''),
    test("test_classifier_shapes", 1, """
    score = Score(1)
    ps4.check_classifier_shapes(score, 0.5, SeqClassifier, seed=0, sizes=[(8, 5)])
    ### BEGIN HIDDEN TESTS
    ps4.check_classifier_shapes(score, 0.5, SeqClassifier, seed=401, sizes=[(1, 1), (3, 2)])
    ### END HIDDEN TESTS
    score
    """),
    test("test_classifier_masking", 2, """
    score = Score(2)
    ps4.check_classifier_masking(score, 1, SeqClassifier, seed=0)
    ### BEGIN HIDDEN TESTS
    ps4.check_classifier_masking(score, 1, SeqClassifier, seed=402, N=9)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    The budget is fixed: `ps4.train_classifier` runs 150 Adam steps (lr 0.01, batches of 64)
    on `SeqClassifier(5, 16, 32, 4)`; the held-out accuracy must reach 0.9. Try it:
    `ps4.accuracy(ps4.train_classifier(SeqClassifier(5, 16, 32, 4)), seed=1)`.
    """),
    test("test_classifier_accuracy", 2, """
    score = Score(2)
    ps4.check_classifier_accuracy(score, 1, SeqClassifier, seed=0)
    ### BEGIN HIDDEN TESTS
    ps4.check_classifier_accuracy(score, 1, SeqClassifier, seed=403)
    ### END HIDDEN TESTS
    score
    """),
    md(r"""
    ## Task 2: an encoder-decoder with teacher forcing

    `EncoderDecoder(vocab_size, embed_dim, hidden_size)`: one embedding shared by both sides,
    an encoder RNN that reads `src (S, N)` and a decoder RNN that **starts from the encoder's
    final hidden state**. `forward(src, tgt_in)` uses teacher forcing: the decoder's input at
    step $t$ is `tgt_in[t]` (the previous target word; `tgt_in[0]` is `<bos>`), and it returns
    `logits (T, N, V)`. `greedy_decode(src, bos, steps)` starts from `bos` and feeds back its
    own argmax each step, returning `ids (steps, N)` (`torch.long`).
    """),
    solution("EncoderDecoder", '''
    class EncoderDecoder(nn.Module):
        """GRU encoder -> final state -> GRU decoder with teacher forcing; greedy decoding."""

        def __init__(self, vocab_size, embed_dim, hidden_size):
            super().__init__()
            ### BEGIN SOLUTION
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.encoder = nn.GRU(embed_dim, hidden_size)
            self.decoder = nn.GRU(embed_dim, hidden_size)
            self.out = nn.Linear(hidden_size, vocab_size)
            ### END SOLUTION

        def forward(self, src, tgt_in):
            """src (S, N), tgt_in (T, N) -> logits (T, N, V)."""
            ### BEGIN SOLUTION
            _, h = self.encoder(self.embed(src))                 # (1, N, H)
            dec, _ = self.decoder(self.embed(tgt_in), h)         # (T, N, H)
            return self.out(dec)
            ### END SOLUTION

        def greedy_decode(self, src, bos, steps):
            """src (S, N) -> ids (steps, N): each step's argmax is the next step's input."""
            ### BEGIN SOLUTION
            _, h = self.encoder(self.embed(src))
            y = torch.full((1, src.shape[1]), bos, dtype=torch.long)
            outs = []
            for _ in range(steps):
                dec, h = self.decoder(self.embed(y), h)
                y = self.out(dec).argmax(-1)                     # (1, N)
                outs.append(y)
            return torch.cat(outs)
            ### END SOLUTION
    '''),
    test("test_encdec_shapes", 1, """
    score = Score(1)
    ps4.check_encdec_shapes(score, 0.5, EncoderDecoder, seed=0, sizes=[(5, 4, 3)])
    ### BEGIN HIDDEN TESTS
    ps4.check_encdec_shapes(score, 0.5, EncoderDecoder, seed=411, sizes=[(1, 1, 1), (2, 6, 2)])
    ### END HIDDEN TESTS
    score
    """),
    test("test_teacher_forcing", 3, """
    score = Score(3)
    ps4.check_teacher_forcing(score, 1.5, EncoderDecoder, seed=0)
    ### BEGIN HIDDEN TESTS
    ps4.check_teacher_forcing(score, 1.5, EncoderDecoder, seed=412, S=3, T=4, N=2)
    ### END HIDDEN TESTS
    score
    """),
    test("test_greedy_decode", 1, """
    score = Score(1)
    ps4.check_greedy_decode(score, 0.5, EncoderDecoder, seed=0)
    ### BEGIN HIDDEN TESTS
    ps4.check_greedy_decode(score, 0.5, EncoderDecoder, seed=413, S=2, N=1, steps=3)
    ### END HIDDEN TESTS
    score
    """),
]

NOTEBOOK = notebook(CELLS, TITLE)
