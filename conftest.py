"""Under pytest, notebooks and tests run the quick profile unless DANNLIB_PROFILE is set."""

import os

os.environ.setdefault("DANNLIB_PROFILE", "quick")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
