import sys

from infrastructure.cli import main

sys.exit(main(sys.argv[1:]))
