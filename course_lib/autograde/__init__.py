"""The instructor's grading runner: the ``rnn-course`` command.

Modules
-------
course      the nbgrader course directory (paths, gradebook, the assignment's cells)
collect     submissions from a folder or an LMS zip into ``submitted/``, roster into the gradebook
lms         Canvas and Moodle: their download names, rosters, import files, feedback layouts
text        ``printable``: student-controlled text made safe for tables, CSVs and logs
autograde   parallel grading, one sandboxed worker process per submission
sandbox     the worker: namespaces, restored test cells, limited nbclient execution
jail        the kernel's launch prefix: own uid, memory/process/file-size limits
zygote      a pre-warmed process that forks the workers into their namespaces
grading     scores from executed notebooks, gradebook writes, the integrity check
feedback    HTML feedback without hidden test source
export      grades as nbgrader's, Canvas's or Moodle's CSV, and the per-problem CSV
cli         ``rnn-course`` (``python -m course_lib.autograde``)
"""
