"""A validation worker (`python -m accord.intel.validation_worker`): reads one
JSON array of objects per line on standard input and answers, on one line of
standard output, the list of each object's problems (accord.intel.validation).
Started by the parent process as a plain subprocess: nothing of the parent's
own program is run again in it."""

from __future__ import annotations

import json
import sys

from accord.intel.validation import problems_of


def main() -> None:
    for line in sys.stdin:
        objects = json.loads(line)
        sys.stdout.write(json.dumps([problems_of(obj) for obj in objects]) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
