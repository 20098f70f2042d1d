"""Settings for the in-process suite: the real ones, pointed at a throw-away
data directory (never the developer's own node)."""

import os
import tempfile

os.environ["ACCORD_DATA_DIR"] = tempfile.mkdtemp(prefix="accord-test-node-")
os.environ["ACCORD_SECRET_KEY"] = "test-only-secret-key-not-for-production"

from accord.settings import *  # noqa: F403

# Argon2 still, with the cheapest parameters: the suite creates many users.
PASSWORD_HASHERS = ["tests.hashers.QuickArgon2PasswordHasher"]
