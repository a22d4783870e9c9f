"""``gcvideo data check|prepare|synth``: the command-line faces of ``gcvideo.data``'s scanning,
re-encoding and generation: options, printed tables and exit codes here; the work, its reports
and files in the data package (``data.check.scan``, ``data.prepare.prepare``, ``data.synth``)."""
from collections import Counter
from dataclasses import asdict
from functools import partial
from json import dumps
from typing import Literal, Optional

to_json = partial(dumps, indent=2)


def run_data_check(source: str, /, *, root: Optional[str] = None, num_frames: int = 8, sampling_rate: int = 8,
                   target_fps: float = 30.0, backend: Literal["pyav", "decord", "torchcodec", "torchcodec-cuda"] = "pyav",
                   workers: Optional[int] = None, out: Optional[str] = None, json: bool = False,
                   classes_file: Optional[str] = None, decode_timeout: float = 120.0,   # decode.DEFAULT_TIMEOUT
                   full: bool = False) -> int:
    """scan every video, report bad ones, write a clean list

    Probe and decode every video of a list (Kinetics CSV, 'path label' list, class-folder tree,
    UCF101/HMDB51 split files, SSv2 JSON, Charades CSV) in parallel, with progress: frames at the
    start, middle and end, or with --full every frame; print ok / missing / unreadable / corrupt /
    truncated / too short / timeout counts with reasons; write <list>.clean.csv|txt (good videos)
    and <list>.bad.csv. Exits 1 when any video is bad.

    Args:
        source: Kinetics CSV, 'path label' list or class-folder tree
        root: video folder (default: the list's folder)
        num_frames: clip length for the too-short test
        sampling_rate: frame stride at --target-fps
        target_fps: frame rate the clips are sampled at
        backend: decoder
        workers: processes (default: all cores)
        out: prefix of the output lists (default: next to the input)
        json: print a JSON report
        classes_file: class names in index order, one per line: integer labels ('path 3') index it
            (without it an integer label is the class's name)
        decode_timeout: seconds a video's probe or decode may take; past it the video is reported
            as 'timeout' and the scan goes on (with --full: the whole video's decode)
        full: decode every frame, the decoder stopping at any error: finds damage in the middle of
            a file ('corrupt') that the three-frame check passes; about as long as one pass over
            the collection's frames
    """
    from ..data.check import scan, summary_table
    from ..data.decode import backend_missing

    missing = backend_missing(backend)
    if missing:
        raise ValueError(missing.replace("data.backend", "--backend"))
    if not 0 < decode_timeout < float("inf"):
        raise ValueError(f"--decode-timeout must be seconds > 0, got {decode_timeout}")
    from ..data.records import read_classes_file

    classes = read_classes_file(classes_file) if classes_file else None
    try:
        results, paths = scan(source, root=root, workers=workers, out_prefix=out, progress=not json, classes=classes,
                              num_frames=num_frames, sampling_rate=sampling_rate, target_fps=target_fps,
                              backend=backend, timeout=decode_timeout, full=full)
    except PermissionError as err:                   # the data layer names its parameter; here: the option
        raise PermissionError(str(err).replace("(out_prefix)", "with --out PREFIX (e.g. --out ~/kinetics_train)")
                              .replace("another output prefix", "another --out")) from None
    bad = [r for r in results if r.status != "ok"]
    if json:
        print(to_json({"total": len(results), "counts": dict(Counter(r.status for r in results)),
                       "bad_videos": [asdict(r) for r in bad], **paths}))    # "bad": the report's path
        return 1 if bad else 0
    print(summary_table(results))
    print(f"{len(results) - len(bad)}/{len(results)} ok; clean list: {paths['clean']}; "
          f"bad-video report: {paths['bad']}")
    if results and all(r.status == "too short" for r in results):
        span = num_frames * sampling_rate / target_fps       # the clip's duration
        print(f"hint: every video is shorter than the clip asked for ({num_frames} frames x {sampling_rate} at "
              f"{target_fps:g} fps = {span:.2f} s; the longest video is {max(r.duration for r in results):.2f} s): "
              "pass the clip options you train with (--num-frames, --sampling-rate, --target-fps; the demo's: "
              "--num-frames 8 --sampling-rate 2)")
    return 1 if bad else 0


def run_data_prepare(src: str, dst: str, /, *, list_: list[str] = (), short_side: int = 320,
                     fps: Optional[float] = None, gop: int = 16, crf: int = 23, tune: str = "fastdecode",
                     jobs: Optional[int] = None, json: bool = False, classes_file: Optional[str] = None) -> int:
    """re-encode a collection for training: short side, key frames, H.264

    Write every video of SRC (a class-folder tree, or the videos of the --list files: Kinetics CSVs
    or 'path label' lists) to DST at the same relative path as H.264 MP4: short side --short-side
    (aspect kept, even sides), display rotation applied, a key frame every --gop frames (random
    clips seek fast), no audio, optionally a constant --fps. Each list is rewritten for DST with
    the prepared videos. Runs on all cores with a progress bar; every output is decoded back before
    it gets its final name, so an interrupted run resumes where it stopped (run it again).
    Unreadable sources are listed in DST/prepare.bad.csv and skipped. Exits 1 when any was skipped.

    Args:
        src: folder holding the videos (a class-folder tree without --list)
        dst: output folder (created)
        list_: Kinetics CSVs or 'path label' lists of videos under SRC (one per split; repeat --list or give several)
        short_side: short side in pixels
        fps: constant output frame rate (default: keep the source's frame times)
        gop: frames between key frames
        crf: x264 quality, lower is better
        tune: x264 tuning (fastdecode: ~1.6x faster decoding, ~20% larger files; 'none' for x264's default)
        jobs: processes (default: all cores)
        json: print a JSON summary
        classes_file: class names in index order: integer labels of the lists index it (the
            rewritten lists keep the integers)
    """
    from ..data.prepare import prepare
    from ..data.records import read_classes_file

    classes = read_classes_file(classes_file) if classes_file else None
    summary = prepare(src, dst, list_, jobs=jobs, classes=classes, progress=not json, short_side=short_side,
                      fps=fps, gop=gop, crf=crf, tune=None if tune == "none" else tune)
    skipped, written = len(summary["bad"]), summary["lists"]
    if json:
        print(to_json({**summary, "bad": skipped}))
    else:
        print(f"{summary['done']} prepared, {summary['already there']} already there, {skipped} skipped "
              f"(unreadable or missing: {summary['bad_report']}); lists for {dst}: "
              f"{', '.join(written.values()) if written else 'none (a class-folder tree)'}")
    return 1 if skipped else 0


def run_data_shard(source: str, out: str, /, *, root: Optional[str] = None, shard_size: float = 1024.0,
                   classes_file: Optional[str] = None, verify: bool = False, json: bool = False) -> int:
    """pack a collection into a few large shards, read like the list

    Write the videos of a list (any format `data check` reads), in list order and byte for byte,
    into tar shards of about --shard-size MB under OUT (WebDataset's layout: <key>.mp4 with
    <key>.json) with OUT/shards.json (each shard's bytes and sha256) and OUT/index.csv (each
    video's shard, byte range, label and id). Training and evaluation read OUT like the list
    (data.train: OUT): one open per shard and process instead of one per video. Resumable: run it
    again after an interruption; OUT sharded from another list or size is refused. Missing videos
    are left out and counted (exit 1). --verify re-hashes OUT's shards against shards.json.

    Args:
        source: the list (Kinetics CSV, 'path label' list, class folders, UCF101/HMDB51 splits, SSv2
            JSON, Charades CSV)
        out: the shard folder
        root: video folder (default: the list's folder)
        shard_size: about this many MB per shard (a shard closes after the video that reaches it)
        classes_file: class names in index order (integer labels index it)
        verify: only check OUT: every shard's size and sha256 against shards.json (exit 1 if any differs);
            SOURCE is not read (`gcvideo data shard - OUT --verify`)
        json: print a JSON summary
    """
    from ..data.records import read_classes_file
    from ..data.shards import verify as verify_shards, write_shards

    if not shard_size > 0:
        raise ValueError(f"--shard-size must be > 0 MB, got {shard_size}")
    if verify:
        bad = verify_shards(out)
        print(to_json({"bad_shards": bad}) if json else
              (f"{out}: every shard matches shards.json" if not bad else f"{out}: {len(bad)} shard(s) differ from "
               f"shards.json: {', '.join(bad[:5])}{' ...' if len(bad) > 5 else ''}; shard again into a new folder"))
        return 1 if bad else 0
    classes = read_classes_file(classes_file) if classes_file else None
    summary = write_shards(source, out, root, int(shard_size * (1 << 20)), classes, progress=not json)
    if json:
        print(to_json(summary))
    else:
        print(f"{summary['videos']} videos in {summary['shards']} shard(s), {summary['bytes'] / 1e6:.1f} MB in {out}"
              + (f" ({summary['done before']} rows done by an earlier run)" if summary["done before"] else "")
              + (f"; {summary['missing']} missing video(s) left out (listed in {out}/shards.json)" if summary["missing"]
                 else "") + f"; train on it with data.train: {out}")
    return 1 if summary["missing"] else 0


def run_data_synth(out: str, /, *, task: Literal["relation", "order", "direction", "actions"] = "relation", videos_per_class: int = 20,
                   fps: int = 30, size: Optional[str] = None, seed: int = 0, workers: Optional[int] = None,
                   frames: Optional[int] = None, colours: int = 2, cue_frames: int = 4, classes: Optional[int] = None,
                   seconds: float = 2.0, event_frames: int = 6) -> int:
    """write generated Kinetics-format videos (no download)

    Generate H.264 videos in the Kinetics layout (class folders, train/val/test.csv, classes.txt),
    identical for a seed. --task relation (the demo's): same or different colour of two discs in
    opposite corners, one lit at the start of the video, the other at its end; also writes
    cues.json (each cue's box per frame). --task order: classes differ only in the temporal order
    of colour events of one drifting disc. --task direction: a disc crossing the frame left to
    right or right to left (a flipped clip shows the other class); also writes
    flip_label_map.json, for data.flip_label_map, and the same videos in UCF101's
    (ucfTrainTestlist/), HMDB51's (testTrainMulti_7030_splits/) and SSv2's (train.json,
    validation.json) own files. --task actions: Charades' format, multi-label: one to three
    actions per video, each a disc of its class's colour shown during its time span
    (Charades_v1_train/val/test.csv with the spans, Charades_v1_classes.txt, flat <id>.mp4).

    Args:
        out: output folder
        task: which task
        videos_per_class: 60% train, 20% val, 20% test (actions: x --classes videos)
        fps: frame rate of the videos
        size: WIDTHxHEIGHT (default: relation 32x32, order 96x72, direction and actions 64x48)
        seed: the same seed gives the same videos
        workers: encoding processes (default: one per core, at most 8, for 64+ videos); the files do not depend on it
        frames: relation, direction, actions: video length in frames (relation: = clip frames x sampling rate,
            16 = 8 x 2; direction: 32, actions: 64 when not given)
        colours: relation: number of cue colours
        cue_frames: relation: frames each cue is lit
        classes: order, actions: number of classes (order: default 6; actions: 2-6, default 4)
        seconds: order: video length
        event_frames: order: frames each event lasts; keep >= the clip sampling rate
    """
    from ..data.synth import synthesize, synthesize_actions, synthesize_direction, synthesize_relation

    given_frames = frames is not None
    frames = frames if given_frames else {"direction": 32, "actions": 64}.get(task, 16)
    if fps < 1 or videos_per_class < 1 or frames < 1 or (classes is not None and classes < 1) or seconds <= 0:
        raise ValueError(f"--fps, --videos-per-class, --frames and --classes must be >= 1 and --seconds > 0, got "
                         f"{fps}, {videos_per_class}, {frames}, {classes}, {seconds}")
    ignored = {"relation": {"--classes": (classes, None), "--seconds": (seconds, 2.0), "--event-frames": (event_frames, 6)},
               "order": {"--frames": (given_frames, False), "--colours": (colours, 2), "--cue-frames": (cue_frames, 4)},
               "direction": {"--classes": (classes, None), "--seconds": (seconds, 2.0), "--event-frames": (event_frames, 6),
                             "--colours": (colours, 2), "--cue-frames": (cue_frames, 4)},
               "actions": {"--seconds": (seconds, 2.0), "--event-frames": (event_frames, 6),
                           "--colours": (colours, 2), "--cue-frames": (cue_frames, 4)}}[task]
    given = [name for name, (value, default) in ignored.items() if value != default]
    if given:
        raise ValueError(f"{', '.join(given)} do(es) not apply to --task {task}: "
                         + {"relation": "the relation task has 2 classes per colour pair and --frames frames per video",
                            "order": "the order task's videos last --seconds",
                            "direction": "the direction task has 2 classes and --frames frames per video",
                            "actions": "the actions task's videos have --frames frames"}[task])
    if task == "actions":
        rows = synthesize_actions(out, videos_per_class, classes or 4, frames, fps,
                                  parse_size(size or "64x48"), seed, workers=workers)
    elif task == "direction":
        rows = synthesize_direction(out, videos_per_class, frames, fps, parse_size(size or "64x48"), seed,
                                    workers=workers)
    elif task == "relation":
        rows = synthesize_relation(out, videos_per_class, frames, fps, parse_size(size or "32x32"), colours,
                                   cue_frames, seed, workers=workers)
    else:
        rows = synthesize(out, classes or 6, videos_per_class, seconds, fps, parse_size(size or "96x72"), event_frames,
                          seed, workers=workers)
    print(f"wrote {sum(map(len, rows.values()))} videos ({task} task) to {out} "
          f"({', '.join(f'{k}: {len(v)}' for k, v in rows.items())})")
    return 0


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 96x72 (WIDTHxHEIGHT), got {text!r}") from None
    if not (16 <= w <= 4096 and 16 <= h <= 4096) or w % 2 or h % 2:
        raise ValueError(f"--size must be even sides from 16 to 4096 pixels (H.264 4:2:0 halves both), got {text!r}")
    return w, h
