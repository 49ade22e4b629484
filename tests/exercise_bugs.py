"""Planted bugs for tests/test_exercises.py, as data.

BUGS[assignment][bug] = (edits, cells that must lose points). Each edit is
(solution cell grade_id, text in the solution, replacement): the buggy submission is the
solved notebook with these edits. The set of test cells scoring below full marks must be
exactly the given set (a bug in a forward pass also costs the cells whose tests run it).

CHEATS[assignment] = (edits, cells that must score exactly 0): a submission that calls the
course_lib reference.
"""

BUGS = {
    "ps1-language-models": {
        "ngram_off_by_one": (
            [("ngram_counts", "range(len(tokens) - n + 1)", "range(len(tokens) - n)")],
            {"test_ngram_counts"}),
        "addk_missing_k_in_denominator": (
            [("addk_prob", "(c_h + k * V)", "(c_h + V)")],
            {"test_addk_prob"}),
        "perplexity_wrong_sign": (
            [("perplexity", "np.exp(-np.mean", "np.exp(np.mean")],
            {"test_perplexity"}),
        "batchify_rows_not_columns": (
            [("batchify", ".reshape(batch_size, T).T", ".reshape(T, batch_size)")],
            {"test_batchify"}),
        "get_batch_targets_not_shifted": (
            [("get_batch", "source[i + 1:i + 1 + L]", "source[i:i + L]")],
            {"test_get_batch"}),
        "get_batch_fixed_length": (
            [("get_batch", "L = min(bptt, source.shape[0] - 1 - i)", "L = bptt")],
            {"test_get_batch"}),
    },
    "ps2-rnn-forward": {
        "relu_instead_of_tanh": (
            [("rnn_step_forward", "h = np.tanh(a)", "h = np.maximum(a, 0)")],
            {"test_rnn_step_forward", "test_rnn_forward", "test_torch_rnn"}),
        "forward_never_updates_h_prev": (
            [("rnn_forward", "        h_prev = h[t]\n", "")],
            {"test_rnn_forward", "test_torch_rnn"}),
        "affine_missing_bias": (
            [("affine_forward", "out = x @ W + b\n    return", "out = x @ W\n    return")],
            {"test_affine_forward"}),
        "cross_entropy_wrong_sign": (
            [("softmax_cross_entropy", "loss = dtype.type(-(m * logp_y)", "loss = dtype.type((m * logp_y)")],
            {"test_softmax_cross_entropy"}),
        "cross_entropy_ignores_mask": (
            [("softmax_cross_entropy", "dlogits *= (m / count)[..., None]",
              "dlogits /= logits[..., 0].size")],
            {"test_softmax_cross_entropy"}),
        "torch_missing_bias_hh": (
            [("rnn_weights_from_torch", "(rnn.bias_ih_l0 + rnn.bias_hh_l0)", "rnn.bias_ih_l0")],
            {"test_torch_rnn"}),
        "step_upcasts_float32": (
            [("rnn_step_forward", "a = x @ Wx + h_prev @ Wh + b",
              "a = x.astype(np.float64) @ Wx + h_prev @ Wh + b")],
            {"test_rnn_step_forward"}),
    },
    "ps3-bptt": {
        "step_backward_wrong_sign_dWh": (
            [("rnn_step_backward", "dWh = h_prev.T @ da", "dWh = -(h_prev.T @ da)")],
            # rnn_backward and train_epoch are right: graded through the broken helper
            {"test_rnn_step_backward", "test_training"}),
        "step_backward_missing_tanh_derivative": (
            [("rnn_step_backward", "da = dh * (1 - h * h)", "da = dh")],
            {"test_rnn_step_backward", "test_training"}),
        "bptt_drops_gradient_from_the_future": (
            [("rnn_backward", "rnn_step_backward(dh[t] + dh_next, cache[t])",
              "rnn_step_backward(dh[t], cache[t])")],
            {"test_rnn_backward"}),
        "bptt_off_by_one_in_time": (
            [("rnn_backward", "for t in reversed(range(T)):", "for t in reversed(range(1, T)):")],
            {"test_rnn_backward"}),
        "clip_grad_norm_never_clips": (
            [("clip_grad_norm", "    if coef < 1:\n        for g in arrays:\n"
              "            g *= g.dtype.type(coef)\n", "")],
            {"test_clip_grad_norm", "test_training"}),
        "train_epoch_without_clipping": (
            [("train_epoch", "        clip_grad_norm(grads, max_norm)\n", "")],
            {"test_train_epoch", "test_training"}),
        "numerical_gradient_one_sided_step": (
            [("numerical_gradient", "grad[ix] = np.sum((fp - fm) * w) / (2 * h)",
              "grad[ix] = np.sum((fp - fm) * w) / h")],
            {"test_numerical_gradient"}),
        "train_epoch_resets_hidden_state": (
            [("train_epoch", "        h = hs[-1]\n", "")],
            {"test_train_epoch"}),
        # every function returns a constant of the right shape: every test must fail it
        "constant_answers": (
            [("rnn_step_backward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    x, h_prev, Wx, Wh = cache[\"x\"], cache[\"h_prev\"], cache[\"Wx\"], cache[\"Wh\"]\n"
              "    return (np.zeros_like(x), np.zeros_like(h_prev), np.zeros_like(Wx), np.zeros_like(Wh),\n"
              "            np.zeros(Wh.shape[1], dtype=x.dtype))\n"),
             ("rnn_backward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    Wx, Wh = cache[0][\"Wx\"], cache[0][\"Wh\"]\n"
              "    return (np.zeros(dh.shape[:2] + (Wx.shape[0],), dtype=dh.dtype), np.zeros_like(dh[0]),\n"
              "            np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(Wh.shape[1], dtype=dh.dtype))\n"),
             ("numerical_gradient", "### BEGIN SOLUTION\n", "### BEGIN SOLUTION\n    return np.zeros(x.shape)\n"),
             ("clip_grad_norm", "### BEGIN SOLUTION\n", "### BEGIN SOLUTION\n    return 1.0\n"),
             ("train_epoch", "### BEGIN SOLUTION\n", "### BEGIN SOLUTION\n    return 0.0, h0\n")],
            {"test_rnn_step_backward", "test_rnn_backward", "test_numerical_gradient",
             "test_clip_grad_norm", "test_train_epoch", "test_training"}),
    },
    "ps4-design-patterns": {
        "classifier_reads_padding": (
            [("SeqClassifier", "last = h[lengths - 1, torch.arange(x.shape[1])]", "last = h[-1]")],
            {"test_classifier_masking"}),
        "classifier_cannot_learn": (
            [("SeqClassifier", "return self.out(last)", "return self.out(last).detach()")],
            {"test_classifier_accuracy"}),
        "decoder_ignores_encoder": (
            [("EncoderDecoder", "dec, _ = self.decoder(self.embed(tgt_in), h)",
              "dec, _ = self.decoder(self.embed(tgt_in))")],
            {"test_teacher_forcing", "test_greedy_decode"}),
        "teacher_forcing_off_by_one": (
            [("EncoderDecoder", "dec, _ = self.decoder(self.embed(tgt_in), h)",
              "dec, _ = self.decoder(self.embed(torch.cat([tgt_in[1:], tgt_in[-1:]])), h)")],
            {"test_teacher_forcing", "test_greedy_decode"}),
        "greedy_never_feeds_back": (
            [("EncoderDecoder", "            y = self.out(dec).argmax(-1)                     # (1, N)\n"
              "            outs.append(y)",
              "            outs.append(self.out(dec).argmax(-1))")],
            {"test_greedy_decode"}),
        "decoder_batch_major_output": (
            [("EncoderDecoder", "return self.out(dec)\n", "return self.out(dec).transpose(0, 1)\n")],
            {"test_encdec_shapes", "test_teacher_forcing", "test_greedy_decode"}),
        # constant, right-shaped answers: masking, causality and greedy decoding must fail them
        "classifier_constant": (
            [("SeqClassifier", "return self.out(last)", "return self.out(last) * 0")],
            {"test_classifier_masking", "test_classifier_accuracy"}),
        "encdec_constant": (
            [("EncoderDecoder", "return self.out(dec)\n", "return self.out(dec) * 0\n"),
             ("EncoderDecoder", "y = self.out(dec).argmax(-1)", "y = (self.out(dec) * 0).argmax(-1)")],
            {"test_teacher_forcing", "test_greedy_decode"}),
    },
    "ps5-lstm": {
        "swapped_input_and_forget_gates": (
            [("lstm_step_forward", "i = sigmoid(a[:, :H])\n    f = sigmoid(a[:, H:2 * H])",
              "f = sigmoid(a[:, :H])\n    i = sigmoid(a[:, H:2 * H])")],
            {"test_lstm_step_forward", "test_gate_switches", "test_lstm_step_backward",
             "test_lstm_forward", "test_lstm_backward", "test_torch_lstm"}),
        "step_backward_missing_tanh_c_term": (
            [("lstm_step_backward", "dc_tot = dc + dh * o * (1 - tc * tc)", "dc_tot = dc")],
            # lstm_backward is right: graded through the broken helper, it keeps its credit
            {"test_lstm_step_backward"}),
        "forward_never_updates_c_prev": (
            [("lstm_forward", "h_prev, c_prev = h[t], c[t]", "h_prev = h[t]")],
            {"test_lstm_forward", "test_lstm_backward", "test_torch_lstm"}),
        "bptt_drops_cell_gradient": (
            [("lstm_backward", "dh[t] + dh_next, dc_next, cache[t])",
              "dh[t] + dh_next, np.zeros_like(dc_next), cache[t])")],
            {"test_lstm_backward"}),
        "torch_missing_bias_hh": (
            [("lstm_weights_from_torch", "(lstm.bias_ih_l0 + lstm.bias_hh_l0)", "lstm.bias_ih_l0")],
            {"test_torch_lstm"}),
        "step_backward_wrong_sign_dWh": (
            [("lstm_step_backward", 'dWh = cache["h_prev"].T @ da', 'dWh = -(cache["h_prev"].T @ da)')],
            {"test_lstm_step_backward"}),
        "constant_answers": (
            [("lstm_step_forward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    return np.zeros_like(h_prev), np.zeros_like(c_prev), {}\n"),
             ("lstm_step_backward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    return (np.zeros((dh.shape[0], 4)), np.zeros_like(dh), np.zeros_like(dc),\n"
              "            np.zeros((4, 4 * dh.shape[1])), np.zeros((dh.shape[1], 4 * dh.shape[1])),\n"
              "            np.zeros(4 * dh.shape[1]))\n"),
             ("lstm_forward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    z = np.zeros(x.shape[:2] + h0.shape[1:], dtype=x.dtype)\n"
              "    return z, z.copy(), [{}] * x.shape[0]\n"),
             ("lstm_backward", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    return (np.zeros(dh.shape[:2] + (4,)), np.zeros_like(dh[0]), np.zeros_like(dh[0]),\n"
              "            np.zeros((4, 4 * dh.shape[2])), np.zeros((dh.shape[2], 4 * dh.shape[2])),\n"
              "            np.zeros(4 * dh.shape[2]))\n"),
             ("lstm_weights_from_torch", "### BEGIN SOLUTION\n",
              "### BEGIN SOLUTION\n    H4, D = lstm.weight_ih_l0.shape\n"
              "    return np.zeros((D, H4)), np.zeros((H4 // 4, H4)), np.zeros(H4)\n")],
            {"test_lstm_step_forward", "test_gate_switches", "test_lstm_step_backward",
             "test_lstm_forward", "test_lstm_backward", "test_torch_lstm"}),
    },
}

_CALL_REF = "from course_lib.{mod} import {name} as _reference\n"

CHEATS = {
    "ps1-language-models": (
        [("batchify", "### BEGIN SOLUTION\n",
          "### BEGIN SOLUTION\n    from course_lib.data import batchify as _reference\n"
          "    return _reference(ids, batch_size)\n")],
        {"test_batchify"}),
    "ps2-rnn-forward": (
        # imported before the tests run: the very function object is the reference
        [("rnn_step_forward", None, "from course_lib.numpy_rnn import rnn_step_forward\n")],
        {"test_rnn_step_forward", "test_rnn_forward"}),
    "ps3-bptt": (
        [("rnn_step_backward", "### BEGIN SOLUTION\n",
          "### BEGIN SOLUTION\n    from course_lib.numpy_rnn import rnn_step_backward as _reference\n"
          "    return _reference(dh, cache)\n")],
        {"test_rnn_step_backward"}),
    "ps4-design-patterns": (
        [("SeqClassifier", None,
          "from course_lib.torch_rnn.models import SeqClassifier as _Reference\n\n\n"
          "class SeqClassifier(_Reference):\n"
          "    def __init__(self, vocab_size, embed_dim, hidden_size, num_classes):\n"
          "        super().__init__(vocab_size, num_classes, embed_dim=embed_dim, hidden_size=hidden_size)\n")],
        {"test_classifier_shapes", "test_classifier_masking", "test_classifier_accuracy"}),
    "ps5-lstm": (
        [("lstm_step_backward", "### BEGIN SOLUTION\n",
          "### BEGIN SOLUTION\n    from course_lib.numpy_rnn import lstm_step_backward as _reference\n"
          "    return _reference(dh, dc, cache)\n")],
        {"test_lstm_step_backward"}),
}
