"""``python -m course_lib.autograde`` is ``rnn-course``."""

import sys

from .cli import main

sys.exit(main())
