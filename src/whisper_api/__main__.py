import sys

from whisper_api.cli import main

sys.exit(main())
