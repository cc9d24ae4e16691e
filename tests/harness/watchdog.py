"""Ends a hung test early: past its deadline, prints every thread's stack and the servers'
logs, then kills plexiproxy so blocked client calls fail instead of waiting for ctest's
timeout of the whole file."""

import faulthandler
import sys
import threading


def start_watchdog(test, seconds: float, proxy, *others) -> None:
    """Arms a timer for this test method; the test's cleanup disarms it."""

    def fire():
        print(f"\n===== {test.id()} still running after {seconds:.0f}s: killing plexiproxy"
              " =====", file=sys.stderr)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for server in (proxy, *others):
            print(f"----- {type(server).__name__} log -----\n{server.log()}", file=sys.stderr)
        proxy.kill()

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    test.addCleanup(timer.cancel)
