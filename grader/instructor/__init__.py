"""What serves the instructor: writing the stubs (generate), checking the course (verify,
mutants), shipping it (release, learner_copy, gradescope) and grading a cohort (batch).
Everything outside this package serves the learner's grading as well."""
