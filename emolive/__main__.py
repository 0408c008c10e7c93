import sys

from emolive.cli import main

sys.exit(main())
