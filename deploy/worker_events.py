"""supervisord event listener for the daphne workers (deploy/supervisord.conf).

A worker that cannot start stops supervisord. A worker goes FATAL when it exits within
`startsecs` (10 s) of its start 4 times in a row (`startretries` = 3; a bad setting, say
`SECRET_KEY` missing with DEBUG off): supervisord would then keep the socket open with nobody
answering, and the container would look alive. Stopping supervisord ends the container
instead, so the failure shows as it did with a single daphne process: in the logs, and
to the orchestrator's restart policy. A worker that dies after it started (killed, out
of memory) is simply restarted by supervisord.

A worker that exited no longer counts in the gauges of the shared metrics (with several
workers, PROMETHEUS_MULTIPROC_DIR: see server.metrics.exposed_registry): its open
websockets and replies in progress went with it.
"""

import os
import signal
import sys

from prometheus_client.multiprocess import mark_process_dead
from supervisor import childutils


def main() -> None:
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers["eventname"] == "PROCESS_STATE_EXITED" and os.environ.get(
            "PROMETHEUS_MULTIPROC_DIR"
        ):
            mark_process_dead(int(childutils.get_headers(payload)["pid"]))
        if headers["eventname"] == "PROCESS_STATE_FATAL":
            print(
                f"worker_events: a worker cannot start ({payload}); stopping supervisord",
                file=sys.stderr,
                flush=True,
            )
            os.kill(os.getppid(), signal.SIGTERM)
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
