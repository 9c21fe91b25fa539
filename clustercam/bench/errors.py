"""The bench's error for input it cannot run, in a module of its own so that raising it (e.g. the
run folder's lock) does not import Hydra or the config schema."""


class ConfigError(ValueError):
    """A config value that cannot run; its message says what is wrong and what to do.

    `python run.py` prints it as one line (no traceback) and exits with code 2.
    """
