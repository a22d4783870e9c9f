"""One way to run a function over many videos on all cores with a progress bar (data check,
data prepare, data synth)."""
import os
import signal
import sys
from multiprocessing import get_context
from typing import Callable, Iterable, Optional, Sequence


def _worker_init() -> None:
    """Ctrl-C is the parent's to handle (it stops the pool: one message, not one traceback per
    worker), a worker dies with its parent (Linux: a killed parent leaves no worker writing
    on), and PyAV decodes with one thread in it (the pool already runs one worker per core)."""
    from .decode import decode_in_one_thread

    decode_in_one_thread()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)    # PR_SET_PDEATHSIG
        except OSError:
            pass


def parallel_map(fn: Callable, items: Sequence, workers: Optional[int] = None, desc: str = "videos",
                 progress: bool = True, ordered: bool = True, chunksize: int = 1,
                 start_method: Optional[str] = None) -> list:
    """``[fn(x) for x in items]`` over ``workers`` processes (default: one per core; one or a
    single item: in this process), with a tqdm bar (ETA included). ``ordered=False`` returns
    results as they finish (for callers that sort them themselves). ``fn`` must pickle."""
    from ..progress import progress_bar

    workers = workers or os.cpu_count() or 1
    results = []
    with progress_bar(total=len(items), desc=desc, unit="video", disable=not progress) as bar:
        if workers == 1 or len(items) < 2:
            iterator: Iterable = map(fn, items)
            pool = None
        else:
            pool = get_context(start_method).Pool(workers, initializer=_worker_init)
            iterator = (pool.imap if ordered else pool.imap_unordered)(fn, items, chunksize=chunksize)
        try:
            for result in iterator:
                results.append(result)
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    return results
