import sys

from berth_cli.main import main

sys.exit(main())
