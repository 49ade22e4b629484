# Course directory of the autograder tests' tiny assignment (copied to a temporary folder).
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = "tiny-course"
c.Execute.timeout = 10
