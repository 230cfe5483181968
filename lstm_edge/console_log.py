"""Where a command's output goes: what lstm-edge says on the console, what the libraries say in a log.

TensorFlow, LiteRT and onnxruntime write to fd 2 from C++ (no Python setting reaches that),
onnxruntime's quantizer logs warnings on the root logger, torch and LiteRT raise Python
warnings. While a command runs (`CommandLog`), fd 2 itself points at the log file, so all of
that — and whatever a child process inherits — lands in the log; Python logging records and
warnings are written, with their logger's name, to the same fd 2. Our own lines (`note`) go to
a copy of the console's fd 2 taken before the redirect, and into the log too, for context.
With --verbose, fd 2 goes to a small tee process instead: the console and the log both.

The log of a command on OUT is OUT.log beside it (`log_path`), never inside OUT: it survives a
failed or interrupted run (the staging directory does not) and cannot break the atomic publish
of OUT. It is appended to, one header per command, and a run in which no library said anything
leaves it as it was.

Outside a command (the Python API, most tests), `quiet_stderr` keeps TensorFlow's start-up and
converter chatter off the caller's stderr and replays it if the block fails.
"""
from __future__ import annotations

import contextlib
import faulthandler
import io
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_active: CommandLog | None = None

# Copies stdin to the console (fd 1) and to the log (fd argv[1]). A process rather than a thread,
# so that on a native crash of ours it still drains the pipe: the last lines are the useful ones.
_TEE = """import os, sys
log = int(sys.argv[1])
def put(fd, b):
    try:
        while b:
            b = b[os.write(fd, b):]
    except OSError:
        pass
while b := os.read(0, 65536):
    put(1, b)
    put(log, b)
"""


def log_path(anchor: Path | None, command: str) -> Path:
    """OUT.log beside the output directory OUT; with no directory, a file in the temp directory."""
    if anchor is not None:
        p = Path(anchor)
        if p.name in ("", ".", ".."):
            p = Path(os.path.abspath(p))
        if p.name:
            return p.with_name(p.name + ".log")
    return Path(tempfile.gettempdir()) / f"lstm-edge-{command}-{os.getpid()}.log"


def note(line: str) -> None:
    """One line of ours for the user: on the console whatever fd 2 points at, and in the log."""
    log = _active
    print(line, file=log.console if log else sys.stderr, flush=True)
    if log is not None:
        log.ours += line.count("\n") + 1
        if log.log_too:
            log.write(line + "\n")


def library_stdout():
    """Where to send a library's prints to stdout: the log in a command, nowhere outside one."""
    if _active is None:
        return contextlib.redirect_stdout(io.StringIO())
    return contextlib.redirect_stdout(_active.fd2_text)


class CommandLog:
    """For the duration of a command: fd 2, Python logging and warnings go to `path` (and, with
    `verbose`, to the console as well). Falls back to leaving everything as it is if the log
    cannot be opened (a read-only output is then reported by the command itself)."""

    def __init__(self, path: Path, title: str, *, verbose: bool = False, create_parent: bool = True):
        self.path, self.title, self.verbose, self.create_parent = Path(path), title, verbose, create_parent
        self.fd = None
        self.ours = 0          # lines of ours in the log: the rest came from the libraries

    def __enter__(self):
        global _active
        if _active is not None:    # a command inside a command: the outer log has it all
            return _active
        try:
            if self.create_parent:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.existed = self.path.exists()
            self.fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            self.start = os.fstat(self.fd).st_size
            self.saved = os.dup(2)
        except OSError:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
            return self
        sys.stdout.flush()
        sys.stderr.flush()
        self.write(f"=== {self.title} · {time.strftime('%Y-%m-%d %H:%M:%S')} · pid {os.getpid()} ===\n")
        self.ours = 1
        real = _is_fd2(sys.stderr)   # False under CliRunner or pytest capture: sys.stderr is a buffer
        self.tee = None
        if self.verbose:
            try:   # its own session: Ctrl-C stops us, and the tee still drains what we said last
                self.tee = subprocess.Popen([sys.executable, "-I", "-S", "-c", _TEE, str(self.fd)], stdin=subprocess.PIPE,
                                            stdout=self.saved, pass_fds=(self.fd,), start_new_session=True)
            except OSError:
                self.verbose = False   # no tee: the log alone, as without --verbose
        if self.tee is not None:
            os.dup2(self.tee.stdin.fileno(), 2)
            self.tee.stdin.close()   # fd 2 holds the pipe now; EOF comes when fd 2 is restored
        else:
            os.dup2(self.fd, 2)
        # Our lines: with --verbose they take the same road as the libraries' (order kept, the tee
        # logs them); otherwise straight to the console fd saved above, and into the log by hand.
        self.own_console = real and not self.verbose
        self.console = (open(os.dup(self.saved), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                             errors="backslashreplace") if self.own_console else sys.stderr)
        self.log_too = not (real and self.verbose)
        self.fd2_text = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
        handler = logging.StreamHandler(self.fd2_text)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root = logging.getLogger()
        # Only ours while the command runs (logging.warning() would otherwise install a console
        # handler on the root logger the first time a library calls it).
        self.root_handlers, root.handlers = root.handlers[:], [handler]
        logging.captureWarnings(True)
        self.faults = faulthandler.is_enabled()
        if self.own_console:   # a native crash: the Python stack on the console, not only in the log
            faulthandler.enable(file=self.console)
        _active = self
        return self

    def write(self, text: str) -> None:
        try:
            os.write(self.fd, text.encode("utf-8", "backslashreplace"))
        except OSError:   # a full disk must not turn a log line into the command's failure
            pass

    def __exit__(self, *exc):
        global _active
        if _active is not self:
            return False
        _active = None
        logging.captureWarnings(False)
        logging.getLogger().handlers = self.root_handlers
        if self.own_console and self.faults:
            faulthandler.enable()
        elif self.own_console:
            faulthandler.disable()
        for stream in (self.fd2_text, sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os.dup2(self.saved, 2)      # from here on, anything printed (our error message too) is seen
        os.close(self.saved)
        if self.tee is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.tee.wait(timeout=5)   # a child that still holds the pipe keeps it going; do not hang
        theirs = self._settle()
        if self.own_console:
            self.console.close()
        if theirs:
            where = "are also in" if self.verbose else "went to"
            note(f"· {theirs} line(s) from the libraries (TensorFlow, onnxruntime, …) {where} {self.path}"
                 + ("" if self.verbose else "; --verbose shows them here"))
        return False

    def _settle(self) -> int:
        """Lines the libraries wrote; a run in which they wrote none leaves the log as it was."""
        try:
            size = os.fstat(self.fd).st_size
            text = os.pread(self.fd, size - self.start, self.start) if size > self.start else b""
            theirs = text.count(b"\n") + (not text.endswith(b"\n") and bool(text)) - self.ours
            if theirs <= 0:
                os.ftruncate(self.fd, self.start)
                if not self.existed:
                    self.path.unlink(missing_ok=True)
            return max(theirs, 0)
        except OSError:
            return 0
        finally:
            os.close(self.fd)


class quiet_stderr:
    """Outside a command: fd 2 to a temporary file for the block, replayed if the block raises.
    Inside one, fd 2 already goes to the command's log, so this does nothing."""

    def __enter__(self):
        self.tmp = None
        if _active is not None:
            return
        sys.stderr.flush()
        self.saved, self.tmp = os.dup(2), tempfile.TemporaryFile()
        os.dup2(self.tmp.fileno(), 2)

    def __exit__(self, exc_type, *rest):
        if self.tmp is None:
            return
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        if exc_type is not None:
            self.tmp.seek(0)
            sys.stderr.write(self.tmp.read().decode(errors="replace"))
        self.tmp.close()


def _is_fd2(stream) -> bool:
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False
