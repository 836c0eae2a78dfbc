import sys

from whisper_api.cli.main import main

sys.exit(main())
