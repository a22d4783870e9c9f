"""Small real videos for tests, including every kind of broken input the data code must survive."""
import os
from fractions import Fraction

import numpy as np

from gcvideo.data.synth import write_video


def ramp_frames(n: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Frame i shows its index in binary in 8 blocks of the top band, and a moving bar."""
    frames = np.zeros((n, height, width, 3), np.uint8)
    block = width // 8
    for i in range(n):
        for bit in range(8):
            if (i >> bit) & 1:
                frames[i, :16, bit * block:(bit + 1) * block] = 255
        frames[i, 16:, (2 * i) % width] = 255
    return frames


def frame_index(frame: np.ndarray) -> int:
    """Inverse of ramp_frames' top band (robust to compression and resizing)."""
    width = frame.shape[1]
    band = frame[:12].mean(axis=(0, 2))                                # (W,), the top band
    block = width / 8
    bits = [band[int(b * block + block / 4): int((b + 1) * block - block / 4)].mean() > 127 for b in range(8)]
    return sum(1 << b for b, on in enumerate(bits) if on)


def write_vfr(path: str, times, height=48, width=64) -> None:
    """H.264 frames at the given presentation times (seconds), a variable frame rate."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(ramp_frames(i + 1, height, width)[i], format="rgb24")
            frame.pts = int(round(t * 1000))
            frame.time_base = Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_audio_only(path: str) -> None:
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 16000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_bad_videos(folder: str) -> dict:
    """name -> path of each kind of bad (or merely unusual but good) video."""
    os.makedirs(folder, exist_ok=True)
    p = lambda name: os.path.join(folder, name)  # noqa: E731
    out = {}
    out["good"] = p("good.mp4")
    write_video(out["good"], ramp_frames(90))
    out["zero_byte"] = p("zero.mp4")
    open(out["zero_byte"], "wb").close()
    out["truncated"] = p("truncated.mp4")
    write_video(p("long.mp4"), np.random.default_rng(0).integers(0, 255, (150, 48, 64, 3), dtype=np.uint8),
                container_options={"movflags": "faststart"})   # headers first: they promise 5 s
    data = open(p("long.mp4"), "rb").read()
    open(out["truncated"], "wb").write(data[: len(data) // 3])
    out["not_video"] = p("notes.mp4")
    open(out["not_video"], "w").write("this is not a video\n" * 50)
    out["audio_only"] = p("audio.mp4")
    write_audio_only(out["audio_only"])
    out["too_short"] = p("short.mp4")
    write_video(out["too_short"], ramp_frames(10))
    out["missing"] = p("does_not_exist.mp4")
    # Unusual but valid: these must decode.
    out["vfr"] = p("vfr.mp4")
    write_vfr(out["vfr"], [0.0, 0.02, 0.1, 0.13, 0.5, 0.55, 0.9, 1.4, 1.45, 2.0, 2.6, 3.0, 3.1])
    out["odd_size"] = p("odd.mp4")
    write_video(out["odd_size"], np.random.default_rng(1).integers(0, 255, (90, 257, 341, 3), dtype=np.uint8),
                pix_fmt="yuv444p")
    out["gray"] = p("gray.mp4")
    write_video(out["gray"], ramp_frames(90), pix_fmt="gray")
    out["webm"] = p("vp9.webm")
    write_video(out["webm"], ramp_frames(90), codec="libvpx-vp9")
    return out


BAD = ("zero_byte", "truncated", "not_video", "audio_only", "too_short", "missing")
UNUSUAL_GOOD = ("good", "vfr", "odd_size", "gray", "webm")


def write_rotated(path: str, frames: np.ndarray, degrees: int) -> None:
    """H.264 frames with a display matrix that turns them ``degrees`` counter-clockwise (how a phone
    records a video held upright: the stored frames are landscape, the player shows them turned)."""
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.set_display_rotation(degrees)
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def write_ntsc(path: str, n: int = 300, height: int = 48, width: int = 64) -> None:
    """``ramp_frames`` at 30000/1001 fps (frame k starts at k * 1001/30000 s)."""
    write_video(path, ramp_frames(n, height, width), fps=Fraction(30000, 1001))


def write_two_halves(path: str, seconds: float = 4.0, fps: int = 30, height: int = 48, width: int = 64,
                     colours=((220, 30, 30), (30, 220, 30)), audio: bool = False, vfr: bool = False) -> float:
    """A video whose first half is one colour and second half another (a moving bar on both);
    optionally with an AAC audio track and a variable frame rate (33/40 ms alternating). Returns
    the time of the change."""
    import av

    change = seconds / 2
    with av.open(path, "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 1000)
        sound = container.add_stream("aac", rate=16000) if audio else None
        t, i = 0.0, 0
        while t < seconds:
            frame = np.empty((height, width, 3), np.uint8)
            frame[:] = colours[0] if t < change else colours[1]
            frame[:, (4 * i) % width] = 255
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in video.encode(vf):
                container.mux(packet)
            t += (0.033 if i % 2 else 0.040) if vfr else 1.0 / fps
            i += 1
        for packet in video.encode():
            container.mux(packet)
        if sound is not None:
            samples = int(seconds * 16000)
            tone = np.sin(2 * np.pi * 440 * np.arange(samples) / 16000).astype(np.float32)
            for k, first in enumerate(range(0, samples - 1024, 1024)):
                af = av.AudioFrame.from_ndarray(tone[None, first:first + 1024], format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, first
                for packet in sound.encode(af):
                    container.mux(packet)
            for packet in sound.encode():
                container.mux(packet)
    return change
