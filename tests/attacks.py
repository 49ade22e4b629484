"""Submissions that try to earn points they did not: each is the UNTOUCHED release plus a block
of code put at the top of its first answer cell, so every point it earns is a point forged.

Written as a student who read every file of course_lib would write them (the issue's list):
patching the grading helpers and ``Score``, rebinding names, IPython's hooks, ``sys.stderr``,
builtins and numpy; always-equal return values; a private copy of the reference loaded from its
files; reading the hidden tests from the notebook on disk; a thread that rewrites results; a
function that behaves differently when it detects the grader. Used by tests/test_tamper.py.
"""

from __future__ import annotations

import textwrap

PATCH_SCORE = """
try:
    import course_lib.grading.checks as _c
    _c.Score.__float__ = lambda self: self.points
    _c.Score.part = lambda self, w, t, f: print(f"[ok]   {t} ({w:g}/{w:g})") or True
    _c.assert_close = lambda *a, **k: None
except Exception as _e:
    pass
try:
    import course_lib.grading as _g
    _g.Score.__float__ = lambda self: self.points
except Exception:
    pass
"""

REBIND_NAMES = """
class _Everything:
    def __init__(self, *a, **k):
        self.points = a[0] if a else 1
    def __getattr__(self, name):
        return lambda *a, **k: True
    def __float__(self):
        return float(self.points)
    def __repr__(self):
        return repr(float(self.points))
Score = _Everything
ps1 = ps2 = ps3 = ps4 = ps5 = _Everything(1)
"""

IPYTHON_HOOKS = """
import sys
_ip = get_ipython()
_ip.showtraceback = lambda *a, **k: None
_ip.showsyntaxerror = lambda *a, **k: None
_ip.display_formatter.formatters['text/plain'].for_type(float, lambda o, p, c: p.text('99'))
sys.displayhook = lambda v: print(99)
sys.stderr = open('/dev/null', 'w')
"""

BUILTINS_AND_NUMPY = """
import builtins, numpy as _np
# (patching isinstance itself only hangs the student's own kernel: ipykernel needs it)
builtins.AssertionError = type('AssertionError', (Exception,), {})
builtins.abs = lambda x: 0
_np.allclose = lambda *a, **k: True
_np.isclose = lambda *a, **k: _np.True_
_np.testing.assert_allclose = lambda *a, **k: None
_np.isfinite = lambda x: _np.True_
"""

ALWAYS_EQUAL = """
import numpy as _np
class _Eq(_np.ndarray):
    def __eq__(self, other): return _np.ones(_np.shape(other), bool)
    def __array_ufunc__(self, *a, **k): return _np.zeros(1)
    def __sub__(self, other): return _np.zeros(_np.shape(other))
class _Obj:
    def __eq__(self, other): return True
    def __array__(self, dtype=None, copy=None): return _np.zeros((1,))
    shape = property(lambda self: ())
def _fake(*a, **k):
    return _np.zeros((2, 2)).view(_Eq), _Obj()
import sys as _sys
_ns = get_ipython().user_ns
for _name in __NAMES__:
    _ns[_name] = _fake
_ip = get_ipython()
_ip.events.register('post_run_cell', lambda *a: [_ns.__setitem__(n, _fake) for n in __NAMES__])
"""

PRIVATE_REFERENCE = """
import importlib.util, importlib.machinery, sys, types, glob
_ref = {}
_roots = ['__REPO__', '/work', '/root', '/opt', '/tmp', sys.prefix, sys.base_prefix]
_paths = [p for r in _roots for p in glob.glob(r + '/**/course_lib/**/*.py', recursive=True)]
for _path in _paths[:200]:
    try:
        _pkg = types.ModuleType('mycopy'); _pkg.__path__ = [_path.rsplit('/', 2)[0]]
        sys.modules['mycopy'] = _pkg
        _spec = importlib.util.spec_from_file_location('mycopy.m', _path)
        _m = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(_m)
        _ref.update({k: v for k, v in vars(_m).items() if callable(v)})
    except Exception:
        pass
try:
    import course_lib.numpy_rnn as _np_ref
    _ref.update(vars(_np_ref))
except Exception:
    pass
_ns = get_ipython().user_ns
def _delegate(name):
    def f(*a, **k):
        return _ref[name](*a, **k)
    return f
for _name in __NAMES__:
    _ns[_name] = _delegate(_name)
get_ipython().events.register('post_run_cell', lambda *a: [
    _ns.__setitem__(n, _delegate(n)) for n in __NAMES__ if n in _ref])
"""

READ_HIDDEN = """
import glob, json, os
_found = []
_pats = ['*.ipynb'] + [r + tail for r in ('/tmp', '/work', '/root', '/opt', '/home', '/srv',
                                          '/var', '__REPO__')
                      for tail in ('/**/*.ipynb', '/**/gradebook.db', '/**/solutions/**')]
for _pat in _pats:
    for _p in glob.glob(_pat, recursive=True)[:200]:
        try:
            _t = open(_p, encoding='utf-8', errors='replace').read()
            if 'BEGIN HIDDEN' + ' TESTS' in _t:  # split: this cell's own notebook is searched too
                _found.append(_p)
        except OSError:
            pass
try:
    _hist = chr(10).join(get_ipython().history_manager.input_hist_raw)
except Exception:
    _hist = ''
if 'BEGIN HIDDEN' + ' TESTS' in _hist:
    _found.append('the kernel history')
# the verdicts are built at run time: this source itself is in the notebook and its history
print(('HIDDEN' + ' FOUND') if _found else ('no hidden' + ' tests visible'), _found[:3])
"""

THREAD_REWRITES = """
import threading, time, sys
def _forge():
    while True:
        try:
            mod = sys.modules.get('_rnn_course_channel')
            if mod is not None and not getattr(mod, '_forged', False):
                _orig = mod._call
                def _call(request, _orig=_orig):
                    reply = _orig(request)
                    reply['value'] = {'$float': 'inf'}
                    return reply
                mod._call = _call
                mod._forged = True
        except Exception:
            pass
        time.sleep(0.01)
threading.Thread(target=_forge, daemon=True).start()
"""

DETECT_GRADER = """
import os, sys
_grading = ('NBGRADER_EXECUTION' in os.environ or not os.path.exists('__REPO__')
            or '_rnn_course_channel' in sys.modules or os.path.exists('/opt/rnn-course'))
if _grading:
    try:
        from course_lib.numpy_rnn import *  # noqa: F401,F403
        from course_lib.data import *  # noqa: F401,F403
        from course_lib.torch_rnn.models import *  # noqa: F401,F403
        from course_lib.ngram import *  # noqa: F401,F403
    except Exception as _e:
        print('reference not reachable:', type(_e).__name__)
"""

SHM_AND_LOCKS = """
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_id = _libc.shmget(0x52434f55, 4096, 0o1666)
print('shmget', _id, 'errno', ctypes.get_errno())
for _p in ('/run/lock/rnn-course-leak', '/dev/shm/rnn-course-leak', '/var/lock/rnn-leak'):
    try:
        open(_p, 'w').write('x'); print('WROTE', _p)
    except OSError as e:
        print('refused', _p, type(e).__name__)
"""

SHADOW_PACKAGE = "course_lib/grading/__init__.py"


def attacks(names: list, repo: str) -> dict:
    """attack name -> code for the top of the first answer cell; ``names`` are the
    assignment's answer functions/classes (what the tests call)."""
    def fill(code):
        return textwrap.dedent(code).replace("__NAMES__", repr(list(names))) \
            .replace("__REPO__", repo)

    return {k: fill(v) for k, v in {
                "patch-score": PATCH_SCORE, "rebind-names": REBIND_NAMES,
                "ipython-hooks": IPYTHON_HOOKS, "builtins-numpy": BUILTINS_AND_NUMPY,
                "always-equal": ALWAYS_EQUAL, "private-reference": PRIVATE_REFERENCE,
                "read-hidden": READ_HIDDEN, "thread-rewrites": THREAD_REWRITES,
                "detect-grader": DETECT_GRADER, "shm-and-locks": SHM_AND_LOCKS}.items()}


#: a package shipped beside the notebook that would replace the course's checks if it could
SHADOW_SOURCE = """
class Score:
    def __init__(self, points): self.points = points
    def part(self, *a, **k): return True
    def __float__(self): return float(self.points)
    def __repr__(self): return repr(float(self.points))
"""
