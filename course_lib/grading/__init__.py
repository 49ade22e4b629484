"""Helpers the exercise notebooks' test cells call, so the cells stay short.

- :mod:`.checks`: closeness asserts whose message names the function, the input shapes,
  expected vs got and the rel_error; :class:`Score` for nbgrader partial credit.
- :mod:`.sealing`: while a student's function runs under test the course_lib reference raises
  (a call scores 0 for that part, with a message saying why).
- :mod:`.factories`: seeded inputs (visible tests draw small seeds, hidden tests others).
- :mod:`.numpy_checks`: forward/backward checks against the reference and the numerical
  gradient of the student's own forward.
- ``ps1`` ... ``ps5``: the checks of each assignment; :mod:`.release`: regenerate exercises/.
"""

from .checks import Score, assert_close, assert_shape_dtype, describe, rel_error
from .sealing import SealedReferenceError, guard, reference, sealed

__all__ = ["Score", "assert_close", "assert_shape_dtype", "describe", "rel_error",
           "SealedReferenceError", "guard", "reference", "sealed"]
