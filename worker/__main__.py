import asyncio
import os
import sys

from worker.main import main

if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    # The worker has shut down cleanly by now; skipping interpreter finalization avoids the
    # abort of temporalio/sdk-python issue 300 when the SDK's native threads are torn down.
    os._exit(code)
