"""How the command lines end on bad input: one line naming the problem and a non-zero exit status,
not a traceback. ``--debug`` shows the traceback (for a bug, or to see where a message came from).

The errors this package raises for bad input are ``ValueError`` subclasses (a bad file, line, field
or config key) and the OS's file errors; a run that did its work but produced nothing usable (every
LLM request failed) raises :class:`RunFailed`. Anything else is a bug and keeps its traceback.
"""

import signal
import sys

USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
DEBUG_FLAG = "--debug"
DEBUG_HELP = "show the full traceback of an error instead of one line"


class RunFailed(RuntimeError):
    """The step ran and wrote its summary, but its result is unusable (e.g. every user failed)."""


def run_cli(main, prog, argv=None):
    """``main(argv)`` as a process's exit status: 0, 2 for bad input, 1 for a failed run. SIGTERM
    (``kill``, a scheduler) unwinds like Ctrl-C, so staged temporary files are removed on the way."""
    argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        main(argv)
    except (*USER_ERRORS, RunFailed) as error:
        if DEBUG_FLAG in argv:
            raise
        print(f"{prog}: error: {error} (--debug shows the traceback)", file=sys.stderr)
        return 1 if isinstance(error, RunFailed) else 2
    return 0
