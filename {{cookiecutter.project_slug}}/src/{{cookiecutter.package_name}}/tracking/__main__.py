"""`python -m <package>.tracking logger <session>`: the logger process that train starts."""

import sys

from .logger import main
from .store import PACKAGE

if len(sys.argv) == 3 and sys.argv[1] == "logger":
    main(sys.argv[2])
else:
    sys.exit(
        f"usage: python -m {PACKAGE}.tracking logger SESSION (started by the train and "
        "evaluate stages; not a command for people)"
    )
