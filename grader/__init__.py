"""The course's autograder: grades a learner's NumPy exercises, test by test, in isolation.

`python -m grader --help` lists the commands; docs/grader.md describes them.
"""
