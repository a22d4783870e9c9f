"""One module per ``gcvideo`` command, each a ``run_*`` function usable from Python."""
