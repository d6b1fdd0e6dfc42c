"""Imported by a test's worker: a module that leaves a thread running, as OpenBLAS would."""

import threading
import time

threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
