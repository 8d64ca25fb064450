"""Every test here runs the applications, which need the `bench` extra: without it the folder is left out
(the header of the test run says so)."""

from optional_extras import missing

collect_ignore_glob = ["test_*.py"] if missing("bench") else []
