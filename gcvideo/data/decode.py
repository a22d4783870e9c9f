"""Decoding the frames shown at given times, with PyAV (default), decord or torchcodec.

The backends answer the same question: for each requested time t (seconds from the
start of the video stream), the frame on screen at t, i.e. the last frame whose
presentation time is <= t. Asking by time rather than by frame number makes
variable-frame-rate videos and resampling to the protocol's 30 fps come out right.
Only the needed span is decoded: PyAV seeks to the key frame before the first
requested time and stops after the last. Audio is never decoded, and decord's global
bridge is never touched.

Frames come out as a player shows them: the display rotation of phone videos (the
container's display matrix / ``rotate`` tag) is applied, and with ``short_side`` each
frame is scaled right after decoding, so memory never holds more than one frame at the
source resolution (a 4K video costs what a small one does).

The backends agree frame for frame. Where decord cannot read a video that PyAV can (it
fails on frames 16 pixels wide, for instance), that video is decoded with PyAV and the
reason logged once. torchcodec (the PyTorch decoder that replaces torchvision's) needs FFmpeg's
shared libraries; where they or the package are missing, ``backend="torchcodec"`` is refused in
one line naming what to install (:func:`backend_missing`). ``torchcodec-cuda`` decodes with the
GPU's NVDEC engine (torchcodec's CUDA build, on a machine with CUDA): frames are decoded and scaled
on the GPU and come back to the host at the scaled size, so the CPU neither decodes nor resizes;
loader workers then start by ``spawn`` (:func:`worker_context`: CUDA cannot run in a forked
process), and each decodes on its rank's GPU (``LOCAL_RANK``). NVDEC's colour conversion is not
swscale's, so its frames are expected to differ from the CPU backends' by a few levels, not by
frame (``tests/test_data_decode_cuda.py``). decord's frame times are float32, so on videos longer
than about two minutes a time within a few microseconds of a frame boundary may pick the
neighbouring frame; PyAV's times are exact.

Every failure is a :class:`VideoError` whose message names the file and the reason.
"""
import functools
import logging
import os
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, TypeVar

import numpy as np

from . import protocols, shards

BACKENDS = ("pyav", "decord", "torchcodec", "torchcodec-cuda")
TORCHCODEC_NEEDS = ("pip install torchcodec, and FFmpeg's shared libraries (4 to 9; Debian/Ubuntu: "
                    "apt-get install libavcodec-dev libavformat-dev libavutil-dev libswscale-dev "
                    "libswresample-dev libavfilter-dev libavdevice-dev)")
# Seconds: a requested time this close to a frame's start counts as reaching it (times that land on
# a boundary up to rounding). Well below 1/30000 s, the finest gap between 30 fps sampling times and
# NTSC (30000/1001) frame starts, so no sampling time is ambiguous between two frames.
_EPS = 1e-5
_DECORD_CHUNK = 16   # frames per decord batch: bounds memory at the source resolution
log = logging.getLogger("gcvideo.data")
_fallback_logged: set = set()
OPENED = {"files": 0}      # video files PyAV opened in this process (shards count theirs in shards.OPENED)
NVDEC_FALLBACKS = {"videos": 0, "logged": False}   # torchcodec-cuda decodes torchcodec did on the CPU itself
_THREADS = {"one": False}  # PyAV decodes with FFmpeg's threads (one per core) unless in a worker


def decode_in_one_thread() -> None:
    """First thing in loader and pool workers: PyAV decodes with one thread, as decord and
    torchcodec here always do. The workers already run one per core; FFmpeg's own threads on
    top (its automatic count is one per core, in every worker) oversubscribe the cores, and its
    frame threads work ahead past a clip's last frame. The main process
    (predict, the timeline, single-process loaders) keeps FFmpeg's threads."""
    _THREADS["one"] = True


def _set_threads(stream) -> None:
    if _THREADS["one"]:
        stream.codec_context.thread_count = 1
    else:
        stream.thread_type = "AUTO"


class VideoError(RuntimeError):
    """A video that cannot give the requested frames; ``reason`` is a short category."""

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path, self.reason, self.detail = path, reason, detail
        super().__init__(f"{path}: {reason}" + (f" ({detail})" if detail else ""))

    @property
    def summary(self) -> str:
        """``reason: detail`` without the path, for reports that list the path themselves."""
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass(frozen=True)
class VideoInfo:
    duration: float            # seconds, as declared by the container/stream
    fps: float                 # average frame rate
    width: int                 # as stored; a rotated video is shown with width and height swapped
    height: int
    num_frames: int            # declared frame count (0 when the container does not say)
    pts_per_frame: float = 0.0  # the stream's duration in its time base / num_frames (0: unknown)
    time_base: float = 0.0     # seconds per presentation-time unit
    start_pts: int = 0         # the stream's first presentation time (frame times are counted from it)
    path: str = ""

    @property
    def frame_duration(self) -> float:
        return 1.0 / self.fps if self.fps > 0 else 0.0


def _check_file(path: str) -> None:
    if shards.is_member(path):               # a video inside a shard (gcvideo data shard)
        shard, offset, size, _ = shards.parse_member(path)
        if not os.path.exists(shard) or os.path.getsize(shard) < offset + size:
            raise VideoError(path, "missing", f"{os.path.basename(shard)} is missing or shorter than its index")
        if size == 0:
            raise VideoError(path, "empty file")
        return
    if not os.path.exists(path):
        raise VideoError(path, "missing")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file")


def _open(path: str):
    import av

    _check_file(path)
    if not shards.is_member(path):
        OPENED["files"] += 1
    try:
        container = av.open(shards.open_source(path))
    except Exception as err:  # noqa: BLE001 - any libav error is "unreadable"
        raise VideoError(path, "unreadable", str(err)) from None
    if not container.streams.video:
        container.close()
        raise VideoError(path, "no video stream", "audio-only or not a video")
    return container


T = TypeVar("T")
DEFAULT_TIMEOUT = 120.0     # seconds a probe or a clip's decode may take (data.decode_timeout)


def bounded(path: str, timeout: Optional[float], work: Callable[[], T]) -> T:
    """``work()``, abandoned after ``timeout`` seconds: it runs in a daemon thread and a decode that
    never returns -- a file on a hung network mount, a pipe nobody writes, a decoder stuck inside C
    code (which releases the GIL while it waits) -- becomes ``VideoError(path, "timeout")``, so the
    loader replaces or reports the video and the job goes on. The abandoned thread holds only that
    file; it does not keep the process from exiting. ``timeout`` None or 0: no bound."""
    if not timeout:
        return work()
    import threading

    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as err:  # noqa: BLE001 - handed to the caller as it is
            outcome["error"] = err

    thread = threading.Thread(target=run, name=f"decode {os.path.basename(path)}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise VideoError(path, "timeout", f"no result after {timeout:g} s (data.decode_timeout); abandoned")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def probe(path: str, timeout: Optional[float] = DEFAULT_TIMEOUT) -> VideoInfo:
    """Duration, fps and size from the container headers (nothing is decoded), within ``timeout``
    seconds (:func:`bounded`)."""
    def read() -> VideoInfo:
        with _open(path) as container:
            return _info(path, container)
    return bounded(path, timeout, read)


def _info(path: str, container) -> VideoInfo:
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 0)
    if stream.duration is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1e6
    else:
        duration = stream.frames / fps if stream.frames and fps else 0.0
    if fps <= 0 or duration <= 0:
        raise VideoError(path, "unreadable", f"no frame rate or duration (fps={fps}, duration={duration})")
    frames = int(stream.frames or 0)
    per_frame = stream.duration / frames if stream.duration and frames else 0.0
    return VideoInfo(duration, fps, stream.codec_context.width, stream.codec_context.height, frames, per_frame,
                     float(stream.time_base or 0), int(stream.start_time or 0), path)


def decode_clip(path: str, choose: Callable[[VideoInfo], Sequence[float]], backend: str = "pyav",
                short_side: Optional[int] = None, max_short_side: Optional[int] = None,
                protocol: str = "gcvideo", timeout: Optional[float] = DEFAULT_TIMEOUT) -> np.ndarray:
    """Frames at the times ``choose(info)`` picks from the video's header info, which may raise
    (too short, ...). With PyAV the file is opened once for both (a clip's probe and decode).
    ``short_side`` / ``max_short_side``: see :func:`decode_at`; ``protocol``: whose rounding the
    scaled size follows (:func:`gcvideo.data.protocols.scaled_size`); the whole within ``timeout``
    seconds (:func:`bounded`)."""
    def work() -> np.ndarray:
        if backend != "pyav":
            return _decode_at(path, choose(probe(path, None)), backend, short_side, max_short_side, protocol)
        with _open(path) as container:
            times = _checked_times(choose(_info(path, container)))
            return _decode_pyav(path, times, _Scale(short_side, max_short_side, protocol), container)
    return bounded(path, timeout, work)


def decode_ends(path: str, info: VideoInfo, backend: str = "pyav", timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
    """Decode the first, middle and last frame that ``info`` declares: a corrupt or truncated
    stream raises :class:`VideoError` here (``data check``, and ``data prepare``'s read-back)."""
    last = max(0.0, info.duration - info.frame_duration)
    decode_at(path, [0.0, last / 2, last], backend, timeout=timeout)


def decode_all(path: str, timeout: Optional[float] = DEFAULT_TIMEOUT) -> int:
    """Decode every frame of the video stream (``data check --full``) with the decoder told to stop
    at any error (FFmpeg's ``err_detect explode``), within ``timeout`` seconds; returns the frame
    count. Damage inside the file is ``VideoError`` "corrupt" naming where the decodable frames end;
    frames that end before the declared duration are "truncated"."""
    def work() -> int:
        with _open(path) as container:
            info = _info(path, container)
            stream = container.streams.video[0]
            _set_threads(stream)
            stream.codec_context.options = {"err_detect": "explode"}
            time_base = float(stream.time_base)
            base = stream.start_time * time_base if stream.start_time is not None else 0.0
            count, last = 0, 0.0
            try:
                for frame in container.decode(stream):
                    count += 1
                    if frame.pts is not None:
                        last = max(last, frame.pts * time_base - base)
            except Exception as err:  # noqa: BLE001 - any decoder error is damage
                raise VideoError(path, "corrupt", f"decoding stops after {count} frames ({last:.2f} s of "
                                 f"{info.duration:.2f} s): {err}") from None
        if not count:
            raise VideoError(path, "unreadable", "no frame could be decoded")
        if info.duration - info.frame_duration > last + 1.5 * info.frame_duration:
            raise VideoError(path, "truncated", f"frames end at {last:.2f}s of the {info.duration:.2f} s declared")
        return count
    return bounded(path, timeout, work)


def _checked_times(times: Sequence[float]) -> np.ndarray:
    times = np.asarray(times, dtype=np.float64)
    if len(times) == 0 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError(f"times must be non-empty, non-negative and sorted, got {times}")
    return times


def decode_at(path: str, times: Sequence[float], backend: str = "pyav",
              short_side: Optional[int] = None, max_short_side: Optional[int] = None,
              protocol: str = "gcvideo", timeout: Optional[float] = DEFAULT_TIMEOUT) -> np.ndarray:
    """uint8 RGB frames (len(times), H, W, 3) on screen at each (non-decreasing) time, display
    rotation applied; with ``short_side``, each frame scaled so its short side is that size; with
    ``max_short_side``, only a frame whose short side is larger is scaled down to it (memory
    stays bounded for any source resolution; smaller videos come out untouched); within
    ``timeout`` seconds (:func:`bounded`)."""
    return bounded(path, timeout, lambda: _decode_at(path, times, backend, short_side, max_short_side, protocol))


def _decode_at(path: str, times: Sequence[float], backend: str, short_side: Optional[int],
               max_short_side: Optional[int], protocol: str) -> np.ndarray:
    times = _checked_times(times)
    scale = _Scale(short_side, max_short_side, protocol)
    if backend == "pyav":
        return _decode_pyav(path, times, scale)
    if backend == "torchcodec":
        return _decode_torchcodec(path, times, scale)
    if backend == "torchcodec-cuda":
        try:
            return _decode_torchcodec(path, times, scale, cuda=True)
        except VideoError as err:      # NVDEC lacks the codec or the size, or the file is broken:
            frames = _decode_torchcodec(path, times, scale)     # the CPU names the breakage as it always does
            _log_fallback(path, "NVDEC", err.summary, "on the CPU")
            return frames
    if backend == "decord":
        try:
            return _decode_decord(path, times, scale)
        except _DecordCannot as err:
            _log_fallback(path, "decord", err, "with pyav")
            return _decode_pyav(path, times, scale)
    raise ValueError(f"unknown video backend {backend!r}; choose one of {list(BACKENDS)}")


def _log_fallback(path: str, decoder: str, why, instead: str) -> None:
    """Once per video: ``decoder`` could not decode ``path`` and it is decoded ``instead``."""
    if path not in _fallback_logged:
        _fallback_logged.add(path)
        log.warning("%s cannot decode %s (%s); decoding it %s", decoder, path, why, instead)


def working_size(needed: int) -> int:
    """The largest short side decoded frames keep when the frames are then scaled to ``needed``
    (training's largest scale, a test view's): twice it. Sources up to that size are decoded as
    they are (their pixels unchanged); larger ones are shrunk as each frame is decoded."""
    return 2 * int(needed)


def scaled_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the short side ``short_side``, aspect kept (gcvideo's rounding)."""
    return protocols.scaled_size("gcvideo", height, width, short_side)


@dataclass(frozen=True)
class _Scale:
    """How decoded frames are scaled: to ``short_side`` exactly, or down to ``max_short_side``
    when larger (``None``: as decoded)."""
    short_side: Optional[int] = None
    max_short_side: Optional[int] = None
    rule: str = "gcvideo"      # how the scaled size is rounded: an evaluation protocol's (data.protocols)

    def target(self, height: int, width: int) -> Optional[int]:
        """The short side a (height, width) frame is scaled to, or None to keep it."""
        if self.short_side is not None:
            return self.short_side
        if self.max_short_side is not None and min(height, width) > self.max_short_side:
            return self.max_short_side
        return None


def _shown(array: np.ndarray, rotation: float, scale: "_Scale") -> np.ndarray:
    """(H, W, 3) frame as displayed: turned by ``rotation`` degrees counter-clockwise, then scaled."""
    turns = int(round(rotation / 90)) % 4
    if turns:
        array = np.rot90(array, turns)
    array = np.ascontiguousarray(array)
    short_side = scale.target(*array.shape[:2])
    size = None if short_side is None else protocols.scaled_size(scale.rule, *array.shape[:2], short_side)
    if size is None or size == array.shape[:2]:
        return array
    import torch
    from torchvision.transforms.v2 import functional as TF

    chw = torch.from_numpy(array).permute(2, 0, 1)
    return TF.resize(chw, list(size), antialias=True).permute(1, 2, 0).numpy()


def _decode_pyav(path: str, times: np.ndarray, scale: _Scale = _Scale(), container=None) -> np.ndarray:
    if container is None:
        with _open(path) as container:
            return _decode_pyav(path, times, scale, container)
    stream = container.streams.video[0]
    _set_threads(stream)
    time_base = float(stream.time_base)          # float arithmetic per frame (Fractions cost ~1 ms a clip)
    base = stream.start_time * time_base if stream.start_time is not None else 0.0
    if times[0] > 1.0:  # seek to the key frame at or before the first request
        container.seek(int((times[0] + base) / stream.time_base), stream=stream, backward=True)
    out = [None] * len(times)
    k, held = 0, None  # held = [time, frame, rgb array or None]: the frame on screen
    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = frame.pts * time_base - base
            while k < len(times) and t > times[k] + _EPS:
                held = held or [t, frame, None]  # a request before the first frame
                if held[2] is None:              # convert only frames that are used
                    held[2] = _pyav_rgb(held[1], scale)
                out[k] = held[2]
                k += 1
            if k == len(times):
                break
            if held is None or held[0] < t:
                held = [t, frame, None]
    except Exception as err:  # noqa: BLE001 - corrupt packets end the decode
        if held is None:
            raise VideoError(path, "unreadable", f"decoding failed: {err}") from None
    if held is None:
        raise VideoError(path, "unreadable", "no frame could be decoded")
    if k < len(times):
        # The stream ended before the last requested times: fine within one frame
        # of the last frame, otherwise the file is shorter than it claims.
        rate = float(stream.average_rate or 30)
        if times[-1] > held[0] + 1.5 / rate:
            raise VideoError(path, "truncated",
                             f"frames end at {held[0]:.2f}s, clip needs {times[-1]:.2f}s")
        last = held[2] if held[2] is not None else _pyav_rgb(held[1], scale)
        out[k:] = [last] * (len(times) - k)
    return _stack(path, out)


def _pyav_rgb(frame, scale: _Scale) -> np.ndarray:
    if scale.short_side is None and scale.target(frame.height, frame.width) is not None:
        # a frame far larger than needed: libswscale shrinks it while converting to RGB, so the
        # full-resolution RGB array (200 MB at 8192x8192) never exists
        height, width = scaled_size(frame.height, frame.width, scale.max_short_side)
        return _shown(frame.to_ndarray(format="rgb24", width=width, height=height), frame.rotation, _Scale())
    return _shown(frame.to_ndarray(format="rgb24"), frame.rotation, scale)


class _DecordCannot(Exception):
    """decord failed on a file that exists; PyAV gets to try it."""


def _decode_decord(path: str, times: np.ndarray, scale: _Scale = _Scale()) -> np.ndarray:
    import decord

    _check_file(path)
    try:
        reader = decord.VideoReader(shards.open_source(path), ctx=decord.cpu(0), num_threads=1)
    except Exception as err:  # noqa: BLE001
        raise _DecordCannot(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
    if len(reader) == 0:
        raise _DecordCannot("no frames")
    starts = reader.get_frame_timestamp(range(len(reader)))[:, 0].astype(np.float64)
    starts = starts - starts[0]
    index = np.searchsorted(starts, times + _EPS, side="right") - 1
    frame_duration = 1.0 / (reader.get_avg_fps() or 30.0)
    if times[-1] > starts[-1] + 1.5 * frame_duration:
        raise VideoError(path, "truncated", f"frames end at {starts[-1]:.2f}s, clip needs {times[-1]:.2f}s")
    index = np.clip(index, 0, len(reader) - 1)
    unique, where = np.unique(index, return_inverse=True)   # each frame decoded and scaled once
    frames = []
    for first in range(0, len(unique), _DECORD_CHUNK):
        try:
            batch = reader.get_batch(unique[first:first + _DECORD_CHUNK].tolist())
        except Exception as err:  # noqa: BLE001
            raise _DecordCannot(str(err).splitlines()[0] if str(err) else type(err).__name__) from None
        # Another library may have switched decord's global bridge to torch: accept both.
        batch = batch.asnumpy() if hasattr(batch, "asnumpy") else batch.numpy()
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise _DecordCannot(f"frames of shape {batch.shape[1:]}")
        frames += [_shown(frame, 0, scale) for frame in batch]   # decord applies the rotation itself
    return _stack(path, [frames[i] for i in where.reshape(-1)])


def backend_missing(backend: str) -> Optional[str]:
    """None when ``backend`` can decode on this machine, else one line saying what is missing."""
    if not backend.startswith("torchcodec"):
        return None
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder  # noqa: F401 - loads its FFmpeg libraries
    except Exception as err:  # noqa: BLE001 - ImportError, or RuntimeError when FFmpeg is missing
        first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        return f"data.backend {backend} cannot load ({first[:120]}); it needs {TORCHCODEC_NEEDS}"
    if backend == "torchcodec-cuda":
        import torch

        if not torch.cuda.is_available():
            return ("data.backend torchcodec-cuda decodes on a CUDA GPU (NVDEC) and torch sees none here; "
                    "use data.backend torchcodec to decode on the CPU")
        version = getattr(torchcodec, "__version__", "")
        if "+cu" not in version:          # CUDA builds say so in their version: 0.16.0+cu130
            return (f"data.backend torchcodec-cuda needs a CUDA build of torchcodec (a version such as "
                    f"0.16.0+cu130); this one is {version or 'unversioned'}")
    return _torchcodec_self_test(backend == "torchcodec-cuda")


@functools.lru_cache(maxsize=None)
def _torchcodec_self_test(cuda: bool) -> Optional[str]:
    """None when torchcodec decodes a tiny generated H.264 video in this process, else one line.
    Importing torchcodec succeeds even where its FFmpeg libraries cannot load: it keeps stand-ins
    for its operators, which fail only at the first decode (with "the JSON object must be str,
    bytes or bytearray, not tuple" once the libraries became loadable later in the process).
    Without this check every video would be reported unreadable instead of the backend once.
    Once per process (forked workers inherit the answer)."""
    import io

    import av

    buffer = io.BytesIO()
    try:
        with av.open(buffer, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for i in range(2):
                frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 60 * i, np.uint8), format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    except Exception:  # noqa: BLE001 - a PyAV without libx264 cannot make the test video: no verdict
        return None
    try:
        from torchcodec.decoders import VideoDecoder

        VideoDecoder(buffer.getvalue(), device=_cuda_device() if cuda else "cpu").get_frame_at(1)
    except Exception as err:  # noqa: BLE001 - whatever breaks, the backend cannot be used here
        first = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        name = "torchcodec-cuda" if cuda else "torchcodec"
        return (f"data.backend {name} cannot decode a test video in this process ({type(err).__name__}: "
                f"{first[:160]}); it needs {TORCHCODEC_NEEDS}")
    return None


def usable_backends() -> tuple[list, dict]:
    """([the backends that decode here], {backend: the line saying why not})."""
    missing = {b: backend_missing(b) for b in BACKENDS}
    return [b for b, why in missing.items() if why is None], {b: why for b, why in missing.items() if why}


def worker_context(backend: str) -> Optional[str]:
    """The DataLoader workers' start method for ``backend``: ``spawn`` where decoding uses CUDA
    (a forked child of a process that has used CUDA cannot), else None (the default, fork)."""
    return "spawn" if backend == "torchcodec-cuda" else None


def _cuda_device() -> str:
    """This process's GPU: its rank's (``LOCAL_RANK``, set for every DDP process and inherited by
    its spawned loader workers), else torch's current device."""
    import torch

    rank = os.environ.get("LOCAL_RANK")
    return f"cuda:{int(rank) if rank is not None else torch.cuda.current_device()}"


def _decode_torchcodec(path: str, times: np.ndarray, scale: _Scale = _Scale(), cuda: bool = False) -> np.ndarray:
    missing = backend_missing("torchcodec-cuda" if cuda else "torchcodec")
    if missing:
        raise ValueError(missing)
    from torchcodec.decoders import VideoDecoder

    _check_file(path)
    try:             # "exact": every frame's time from a scan of the file, as PyAV's decode reads them
        source = shards.member_bytes(path) if shards.is_member(path) else path
        decoder = VideoDecoder(source, dimension_order="NHWC", seek_mode="exact", num_ffmpeg_threads=1,
                               device=_cuda_device() if cuda else "cpu")
    except Exception as err:  # noqa: BLE001 - any FFmpeg error is "unreadable"
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VideoError(path, "no video stream" if "video stream" in message.lower() else "unreadable",
                         message) from None
    meta = decoder.metadata
    begin, end = float(meta.begin_stream_seconds or 0.0), float(meta.end_stream_seconds or 0.0)
    if not len(decoder) or end <= begin:
        raise VideoError(path, "unreadable", "no frame could be decoded")
    frame_duration = 1.0 / (meta.average_fps or 30.0)
    # (no get_frame_at here: torchcodec 0.14-0.17 decodes wrong frames after a seek to the end and back)
    last_start = end - frame_duration - begin
    if times[-1] > last_start + 1.5 * frame_duration:
        raise VideoError(path, "truncated", f"frames end at {last_start:.2f}s, clip needs {times[-1]:.2f}s")
    # times are from the stream's start; a time on a frame boundary (up to _EPS) reaches that frame
    wanted = np.clip(times + begin + _EPS, begin, begin + last_start)
    unique, where = np.unique(wanted, return_inverse=True)
    frames = []
    for first in range(0, len(unique), _DECORD_CHUNK):        # bounded memory at the source resolution
        chunk = unique[first:first + _DECORD_CHUNK].tolist()
        try:
            decoded = decoder.get_frames_played_at(chunk).data
            batch = list(_scaled_on_device(decoded, scale) if cuda else decoded.numpy())
        except Exception:  # noqa: BLE001 - one by one: a frame the stream ends before shows the last one
            batch = []
            for t in chunk:
                try:
                    frame = decoder.get_frame_played_at(t).data
                    batch.append(_scaled_on_device(frame[None], scale)[0] if cuda else frame.numpy())
                except Exception as err:  # noqa: BLE001
                    if not (frames or batch) or t < end - 2 * frame_duration:
                        raise VideoError(path, "unreadable", f"decoding failed at {t - begin:.2f}s: "
                                         f"{str(err).splitlines()[0] if str(err) else err}") from None
                    batch.append(batch[-1] if batch else None)
        frames += [(frame if cuda else _shown(frame, 0, scale)) if frame is not None else frames[-1]
                   for frame in batch]
    if cuda and getattr(decoder, "cpu_fallback", False):     # torchcodec decoded on the CPU after all
        NVDEC_FALLBACKS["videos"] += 1
        if not NVDEC_FALLBACKS["logged"]:
            NVDEC_FALLBACKS["logged"] = True
            log.warning("torchcodec-cuda: torchcodec decoded %s on the CPU, not with NVDEC (%s); further such "
                        "videos are counted, not logged", path, decoder.cpu_fallback)
    return _stack(path, [frames[i] for i in where.reshape(-1)])      # torchcodec applies the rotation itself


def _scaled_on_device(frames, scale: _Scale) -> np.ndarray:
    """(N, H, W, 3) uint8 frames on the GPU, scaled there as :func:`_shown` scales on the host
    (antialiased bilinear, the same rounding), then copied to the host: only the scaled frames
    cross the bus."""
    short_side = scale.target(*frames.shape[1:3])
    size = None if short_side is None else protocols.scaled_size(scale.rule, *frames.shape[1:3], short_side)
    if size is not None and tuple(size) != tuple(frames.shape[1:3]):
        from torchvision.transforms.v2 import functional as TF

        frames = TF.resize(frames.permute(0, 3, 1, 2), list(size), antialias=True).permute(0, 2, 3, 1)
    return frames.contiguous().cpu().numpy()


def _stack(path: str, frames) -> np.ndarray:
    arrays = [np.asarray(f) for f in frames]
    if arrays[0].ndim != 3 or arrays[0].shape[2] != 3:
        raise VideoError(path, "unreadable", f"unexpected frame shape {arrays[0].shape}")
    return np.stack(arrays)
