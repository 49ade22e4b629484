"""Sealing the course's reference while a student's function runs under test.

A student could pass every test by calling the reference (``from course_lib.numpy_rnn import
rnn_forward`` and returning its result). While a student's function runs under test, every
public function of the ``course_lib`` reference modules (and every method of their classes) has
its ``__code__`` swapped for a stub that raises :class:`SealedReferenceError`. Swapping the code
object, not the module attribute, also catches names the student imported *before* the test:
their name and the module's name are the same function object.

The grader itself never runs inside the seal: :func:`guard` wraps only the student's function,
so references, numerical gradients and torch comparisons computed by the checks use the
untouched library. A student who catches the error is still caught: every call of a sealed
function is recorded, and :func:`guard`'s wrapper raises afterwards.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
import types
from typing import Callable, Dict, List, Tuple

__all__ = ["SealedReferenceError", "sealed", "guard", "reference", "SEALED_MODULES",
           "is_remote", "sandbox_helper", "call_many"]

# Imported before sealing so that an ``import`` inside the student's function cannot fetch a
# fresh, unsealed copy of a reference module.
SEALED_MODULES: Tuple[str, ...] = (
    "course_lib.numpy_rnn",
    "course_lib.gradcheck",
    "course_lib.data",
    "course_lib.ngram",
    "course_lib.metrics",
)
# Grading and the autograder are the instructor's side, never a student's shortcut.
_EXEMPT = ("course_lib.grading", "course_lib.autograde")


class SealedReferenceError(RuntimeError):
    """A course_lib reference function was called while a student's function was under test."""


_depth = 0
_hits: List[str] = []
_saved: Dict[int, Tuple[types.FunctionType, types.CodeType]] = {}
_stub_names: Dict[int, str] = {}
_stub_cache: Dict[Tuple[str, str, int], types.CodeType] = {}
_pristine: Dict[str, Callable] = {}


def _sealed_hit():
    # Called by every stub; frame 1 is the stub itself, whose code identifies the function.
    code = sys._getframe(1).f_code
    name = _stub_names.get(id(code), code.co_name)
    _hits.append(name)
    raise SealedReferenceError(
        f"{name} is the course's reference and is sealed while your code is graded: "
        f"implement it yourself (calling it scores 0 for this part)"
    )


def _stub_code(fn: types.FunctionType, qualname: str) -> types.CodeType:
    nfree = len(fn.__code__.co_freevars)
    key = (fn.__code__.co_name, qualname, nfree)
    if key not in _stub_cache:
        # A code object may only replace another with the same number of free variables,
        # so the stub closes over as many dummies as the original closes over cells.
        free = [f"_f{k}" for k in range(nfree)]
        lines = ["def _outer():"]
        if free:
            lines.append("    " + " = ".join(free) + " = None")
        lines.append("    def _stub(*args, **kwargs):")
        if free:
            lines.append("        (" + ", ".join(free) + ",)")
        lines.append("        return __import__('course_lib.grading.sealing', None, None,"
                     " ['_sealed_hit'])._sealed_hit()")
        lines.append("    return _stub")
        ns: dict = {}
        exec(compile("\n".join(lines), "<sealed reference>", "exec"), ns)
        code = ns["_outer"]().__code__
        code = code.replace(co_name=fn.__code__.co_name, co_qualname=qualname)
        _stub_cache[key] = code
    return _stub_cache[key]


def _import_sealed_modules() -> None:
    names = list(SEALED_MODULES)
    if "torch" in sys.modules:  # the torch reference only where torch is loaded anyway (seconds)
        names.append("course_lib.torch_rnn")
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        # submodules too: a package's __init__ need not import them all
        for info in pkgutil.iter_modules(getattr(mod, "__path__", [])):
            try:
                importlib.import_module(f"{name}.{info.name}")
            except Exception:
                pass


def _targets() -> List[Tuple[types.FunctionType, str]]:
    found: Dict[int, Tuple[types.FunctionType, str]] = {}

    def add(fn, qualname):
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        if isinstance(fn, property):
            for acc in (fn.fget, fn.fset, fn.fdel):
                if acc is not None:
                    add(acc, qualname)
            return
        if isinstance(fn, types.FunctionType) and getattr(fn, "__module__", "").startswith("course_lib"):
            if not fn.__module__.startswith(_EXEMPT):
                found.setdefault(id(fn), (fn, qualname))

    for modname, mod in list(sys.modules.items()):
        if mod is None or not modname.startswith("course_lib") or modname.startswith(_EXEMPT):
            continue
        for attr, obj in list(vars(mod).items()):
            if isinstance(obj, type) and obj.__module__ == modname:
                for cattr, cobj in list(vars(obj).items()):
                    add(cobj, f"{modname}.{obj.__qualname__}.{cattr}")
            else:
                add(obj, f"{modname}.{attr}")
    return list(found.values())


_targets_cache: Dict[int, List[Tuple[types.FunctionType, str]]] = {}


def _cached_targets() -> List[Tuple[types.FunctionType, str]]:
    # Walking every module's functions costs milliseconds; a numerical gradient seals the
    # student's forward hundreds of times, so the list is recomputed only when new course_lib
    # modules were imported.
    # (the number of loaded modules is the cheap proxy for "something new was imported")
    key = len(sys.modules)
    if key not in _targets_cache:
        _import_sealed_modules()
        key = len(sys.modules)
        _targets_cache.clear()
        _targets_cache[key] = _targets()
    return _targets_cache[key]


def _seal() -> None:
    for fn, qualname in _cached_targets():
        if id(fn) in _saved:
            continue
        _saved[id(fn)] = (fn, fn.__code__)
        stub = _stub_code(fn, qualname)
        _stub_names[id(stub)] = qualname
        fn.__code__ = stub


def _unseal() -> None:
    for fn, code in _saved.values():
        fn.__code__ = code
    _saved.clear()


class sealed:
    """Context manager: the reference raises :class:`SealedReferenceError` inside it.

    Re-entrant; ``hits`` lists the sealed functions called inside (even if the caller caught
    the error).
    """

    def __enter__(self) -> "sealed":
        global _depth
        self._start = len(_hits)
        if _depth == 0:
            _seal()
        _depth += 1
        return self

    def __exit__(self, *exc) -> None:
        global _depth
        _depth -= 1
        if _depth == 0:
            _unseal()
        self.hits = list(_hits[self._start:])
        if _depth == 0:
            del _hits[:]

    hits: List[str] = []


def guard(fn: Callable, name: str) -> Callable:
    """Wrap the student's ``fn`` so it runs sealed; a reference call becomes an AssertionError.

    The AssertionError names the student's function and the reference it called, and tells the
    student why the part scores 0.
    """
    if not callable(fn):
        raise AssertionError(f"{name}: expected a function, got {type(fn).__name__}")
    if getattr(type(fn), "__rnn_course_remote__", False) is True:
        # the autograder's checker: the student's code runs in another process, where the
        # reference does not even exist, so there is nothing to seal here
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with sealed() as s:
            try:
                out = fn(*args, **kwargs)
            except SealedReferenceError:
                out = None
        if s.hits:
            raise AssertionError(
                f"{name} called {s.hits[0]}, the course's reference, which is sealed while "
                f"your code is graded. Implement {name} yourself: this part scores 0."
            )
        return out

    return wrapper


def reference(qualname: str) -> Callable:
    """A private copy of the reference function ``qualname`` (e.g. "course_lib.numpy_rnn.rnn_forward").

    The copy keeps the code the function had when first requested (a later change of the
    original's ``__code__``, e.g. by a student's notebook, does not reach it). The checks call
    it outside the seal: the reference's own helpers are sealed too.
    """
    if qualname not in _pristine:
        modname, _, attr = qualname.rpartition(".")
        fn = getattr(importlib.import_module(modname), attr)
        if isinstance(fn, types.FunctionType):
            _, code = _saved.get(id(fn), (fn, fn.__code__))
            copy = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
            copy.__kwdefaults__ = fn.__kwdefaults__
            copy.__doc__ = fn.__doc__
            fn = copy
        _pristine[qualname] = fn
    return _pristine[qualname]


def is_remote(obj) -> bool:
    """Whether ``obj`` is a student's object in the autograder's sandbox (a checker proxy).

    The checks run unchanged in the notebook and in the checker; the one thing they cannot do
    across processes is train a student's model by autograd, so that step asks the sandbox.
    """
    return getattr(type(obj), "__rnn_course_remote__", False) is True


def sandbox_helper(remote, helper: str, *args, **kwargs):
    """Run the course data helper ``helper`` (e.g. ``"ps4.train_classifier"``) in the sandbox
    where ``remote`` lives, on ``args`` (remote objects travel as handles)."""
    return remote._channel.call({"helper": helper}, helper, args, kwargs)


def call_many(fn, argsets: list) -> list:
    """``[fn(*a) for a in argsets]``; one round trip when ``fn`` lives in the sandbox."""
    if is_remote(fn):
        return fn.map(argsets)
    return [fn(*a) for a in argsets]
