"""A `serve` that also runs investigations runs them in a worker child process it supervises.

The HTTP process then only acknowledges: the investigations (the same code as `sre-bot worker`) no longer share
its interpreter, so an ack never waits for their threads to hand back the GIL. The two processes are joined by a
socket pair passed to the child (its number in ``SRE_BOT_SUPERVISOR_FD``): the child writes ``ready`` on it once
its queue workers run, and reads it until end of file, which comes when the parent dies however it dies (even
``kill -9``) -- the child then leaves at once, as the one process would have, and the next `serve`'s child
resumes its workflows under the same executor id. The child runs at a lower CPU priority. A child that dies is started again, after a pause that grows
while it keeps dying soon after starting; `stop()` ends it with SIGTERM (then SIGKILL) and waits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

#: The environment variable naming the child's end of the socket pair.
FD_ENV = "SRE_BOT_SUPERVISOR_FD"
#: What the child writes once it is ready.
READY = b"ready\n"
#: How much lower the child's CPU priority is than its parent's (`nice`): when the cores are busy, the acks come
#: first and the investigations take what is left.
CHILD_NICENESS = 5
#: The command of the child: `sre-bot worker`, run by this interpreter.
WORKER_COMMAND = (sys.executable, "-c", "from bot.cli import main; main()", "worker")


class WorkerChild:
    """Runs `command` as a child process, started again whenever it dies, until `stop()`."""

    def __init__(
        self,
        command: Sequence[str] = WORKER_COMMAND,
        env: dict[str, str] | None = None,
        *,
        first_pause_s: float = 1.0,
        max_pause_s: float = 30.0,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self.command = list(command)
        self.env = dict(os.environ if env is None else env)
        self.first_pause_s = first_pause_s
        self.max_pause_s = max_pause_s
        self.stop_timeout_s = stop_timeout_s
        self.starts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="worker-child", daemon=True)

    def start(self) -> WorkerChild:
        """Start the child and the thread that watches it."""
        self._thread.start()
        return self

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def problem(self) -> str | None:
        """None when the child runs and said it is ready; else why not (for ``/readyz``)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return "worker process not running (restarting)" if self.starts else "worker process not started"
        if not self._ready.is_set():
            return "worker process starting"
        return None

    def wait_ready(self, timeout_s: float) -> bool:
        """Wait until the current child says it is ready."""
        return self._ready.wait(timeout_s)

    def stop(self) -> None:
        """SIGTERM the child (SIGKILL after `stop_timeout_s`), wait for it, and start no other."""
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("worker child %d did not stop in %.0f s: killed", proc.pid, self.stop_timeout_s)
                proc.kill()
                proc.wait()
        self._thread.join(self.stop_timeout_s)

    def _supervise(self) -> None:
        pause = self.first_pause_s
        while not self._stopping.is_set():
            began = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - began
            pause = self.first_pause_s if ran > 60 else min(pause * 2, self.max_pause_s)
            log.error(
                "worker child exited with code %s after %.0f s; starting it again in %.0f s", code, ran, pause
            )
            self._stopping.wait(pause)

    def _run_once(self) -> int | None:
        ours, theirs = socket.socketpair()
        try:
            env = {**self.env, FD_ENV: str(theirs.fileno())}
            with self._lock:
                if self._stopping.is_set():
                    return None
                self._ready.clear()
                self._proc = proc = subprocess.Popen(self.command, env=env, pass_fds=(theirs.fileno(),))
                self.starts += 1
            theirs.close()
            log.info("worker child %d started", proc.pid)
            with contextlib.suppress(OSError):
                said = b""
                while READY not in said:
                    piece = ours.recv(64)
                    if not piece:
                        break
                    said += piece
                if READY in said:
                    self._ready.set()
                    log.info("worker child %d ready", proc.pid)
            return proc.wait()
        finally:
            self._ready.clear()
            ours.close()
            theirs.close()


def join_supervisor(on_parent_gone: Callable[[], None] | None = None) -> Callable[[], None] | None:
    """In a worker started by `WorkerChild`: returns a function that says ``ready`` to the parent, and watches
    the parent, calling `on_parent_gone` (default: leave at once) when it dies. None when not supervised."""
    raw = os.environ.pop(FD_ENV, None)
    if not raw:
        return None
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    sock = socket.socket(fileno=int(raw))

    def watch() -> None:
        with contextlib.suppress(OSError):
            while sock.recv(64):
                pass
        log.warning("the serve process that started this worker is gone: leaving")
        if on_parent_gone is not None:
            on_parent_gone()
        else:
            os._exit(70)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()

    def ready() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(READY)

    return ready
