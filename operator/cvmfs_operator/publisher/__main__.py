"""``python -m cvmfs_operator.publisher``: the same as the ``cvmfs-publisher`` console script."""

import sys

from cvmfs_operator.publisher.main import main

sys.exit(main())
