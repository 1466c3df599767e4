"""Print ``{name: help text}`` (JSON, last line) of the commands named on stdin (``{name: command}``).

Each command's own entry point runs with ``--help`` in this one process (``runpy``, as ``python``
would run it), so the text is what a user sees, and the imports are paid once.
"""

import contextlib
import io
import json
import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_help(command):
    words = command.split()
    assert words[0] == "python", command
    stdout = io.StringIO()
    saved = sys.argv
    try:
        with contextlib.redirect_stdout(stdout):
            if words[1] == "-m":
                sys.argv = [words[2], "--help"]
                runpy.run_module(words[2], run_name="__main__", alter_sys=True)
            else:
                sys.argv = [words[1], "--help"]
                runpy.run_path(os.path.join(ROOT, words[1]), run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise RuntimeError(f"{command} --help exited with {stop.code}") from None
    finally:
        sys.argv = saved
    text = stdout.getvalue()
    if "usage:" not in text:
        raise RuntimeError(f"{command} --help printed no usage:\n{text}")
    return text


def main():
    commands = json.loads(sys.stdin.read())
    os.chdir(ROOT)
    sys.path.insert(0, ROOT)
    helps = {name: run_help(command) for name, command in commands.items()}
    print(json.dumps(helps))


if __name__ == "__main__":
    main()
