"""Under pytest, notebooks and tests run the quick profile unless DANNLIB_PROFILE is set, and
offline unless DANNLIB_OFFLINE is set: nbval compares each notebook with its committed outputs,
which were made from the offline data (an online run would print other data sources). Run
`DANNLIB_OFFLINE=0 pytest --nbval notebooks/` to let the lessons download the full datasets."""

import os

os.environ.setdefault("DANNLIB_PROFILE", "quick")
os.environ.setdefault("DANNLIB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
