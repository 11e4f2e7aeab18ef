import sys

from goalit.cli import main

sys.exit(main())
