import sys

from device_management.register import main

sys.exit(main())
