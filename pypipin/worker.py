"""A worker process: ``python -m pypipin.worker [twistd pypipin options]``, started by the daemon with
its listening socket as descriptor 3; serves until SIGTERM, or until the daemon is gone."""
# mypy: untyped-calls-exclude=twisted
# (much of Twisted is not annotated: calls into it go unchecked, the rest of these modules is strict)

import os
import sys

from twisted.internet import reactor, task
from twisted.logger import FileLogObserver, formatEvent, globalLogBeginner
from twisted.python import usage

from pypipin.options import Options
from pypipin.settings import Settings
from pypipin.supervisor import SOCKET_FD
from pypipin.wiring import worker_service

ORPHAN_CHECK = 1.0  # seconds between two looks at whether the daemon is still there


def main(argv: list[str]) -> None:
    options = Options()
    try:
        options.parseOptions(argv)
    except usage.UsageError as error:
        raise SystemExit(f"pypipin worker: {error}") from None
    lines = FileLogObserver(
        sys.stderr, lambda event: f"[{event.get('log_namespace')}] {formatEvent(event)}\n"
    )
    globalLogBeginner.beginLoggingTo([lines], redirectStandardIO=False)  # the daemon's log dates them
    daemon = os.getppid()
    served = worker_service(Settings.from_options(options), reactor, SOCKET_FD)

    def orphan() -> None:
        if os.getppid() != daemon:
            reactor.stop()

    orphaned = task.LoopingCall(orphan)
    reactor.callWhenRunning(served.startService)
    reactor.callWhenRunning(orphaned.start, ORPHAN_CHECK, now=False)
    reactor.addSystemEventTrigger("before", "shutdown", served.stopService)
    reactor.run()


if __name__ == "__main__":
    main(sys.argv[1:])
