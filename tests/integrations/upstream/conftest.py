# Suites vendored with their upstream layout are run by scripts/framework-suites (each
# in its own pytest process, behind its adapter), never collected with the project's tests.
collect_ignore = ["litestar", "starsessions"]
