import sys

from trtops.cli import main

sys.exit(main())
