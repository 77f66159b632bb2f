import sys

from authwatch.cli import main

sys.exit(main())
