"""Kinetics-style video data: layouts, decoding, sampling, transforms, datasets."""
from .datamodule import KineticsDataModule
from .dataset import EpochSampler, VideoClipDataset
from .decode import VideoError, decode_at, probe
from .records import VideoRecord, load_records

__all__ = ["KineticsDataModule", "VideoClipDataset", "EpochSampler", "VideoError", "decode_at", "probe",
           "VideoRecord", "load_records"]
