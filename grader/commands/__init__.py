"""One module per `python -m grader` command; each exposes run(args, env) -> ExitCode."""
