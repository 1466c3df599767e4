import sys

from recbole_llmkd.profiles.cli import main
from recbole_llmkd.user_errors import run_cli

sys.exit(run_cli(main, "python -m recbole_llmkd.profiles"))
