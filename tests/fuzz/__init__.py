"""Fuzz tests: hypothesis and schemathesis against a live server, which must answer every request
below 500 and log no error and no traceback.

How much runs is set by PETITION_FUZZ_EXAMPLES (see tests.fuzz.budget): unset, the whole folder
takes about a minute; `PETITION_FUZZ_EXAMPLES=2000 .venv/bin/pytest tests/fuzz` is the long run.
"""
