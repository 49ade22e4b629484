"""nbgrader configuration of the course (this folder is the nbgrader course directory).

Source notebooks (solutions + hidden tests) live in ../solutions/<assignment>/ and the student
release in ../exercises/<assignment>/, so plain ``nbgrader`` commands run from this folder and
``rnn-course`` (which reads this file) agree on every path. The gradebook and the submitted/,
autograded/ and feedback/ folders are created here at run time and are not committed.
"""

import os

c = get_config()  # noqa: F821  (provided by nbgrader's config loader)

HERE = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = HERE
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "exercises")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(HERE, "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "_build"]

# One cell may train a tiny model within the exercises' CPU budget; a notebook runs in < 2 min.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True

# Restore deleted test cells instead of failing the notebook (students do delete them).
c.OverwriteCells.add_missing_cells = True

# nbgrader zeroes a test cell that writes to stderr; keep tracebacks short in the autograded copy.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}


def _assignments_are_folders_with_notebooks():
    """Make nbgrader's formgrader list only real assignments.

    nbgrader takes every folder of the source directory for an assignment, and nothing in
    CourseDirectory (``ignore`` filters the files copied *inside* an assignment) says otherwise;
    so ``solutions/builder`` (the Python that writes the source notebooks) showed up in the
    formgrader as an empty "builder" assignment. Here an assignment is a source folder holding
    a notebook, the rule ``rnn-course`` uses (course_lib.autograde.course.Course.assignments).
    """
    import glob

    from nbgrader.apps.api import NbGraderAPI

    every_folder = NbGraderAPI.get_source_assignments
    if getattr(every_folder, "only_folders_with_notebooks", False):
        return  # one process may load this file more than once

    def get_source_assignments(self):
        def has_notebook(name):
            folder = self.coursedir.format_path(self.coursedir.source_directory, ".", name)
            return bool(glob.glob(os.path.join(glob.escape(folder), "*.ipynb")))

        return {name for name in every_folder(self) if has_notebook(name)}

    get_source_assignments.only_folders_with_notebooks = True
    NbGraderAPI.get_source_assignments = get_source_assignments


_assignments_are_folders_with_notebooks()
