"""Synthetic media with known answers: the embedded demo dataset and Charades-STA stand-ins.

``make_demo_dataset`` writes real H.264 mp4s and PNGs for every task in ``TASKS`` plus EasyR1 /
Video-R1 style ``train.jsonl`` and ``val.jsonl``; ``make_charades_standins`` turns an official
Charades-STA annotation file into videos whose visible events span the annotated moments.
"""

from .charades import make_charades_standins, parse_charades_annotations
from .demo import DatasetPaths, make_demo_dataset
from .tasks import TASKS, TaskContext, TaskSample, register_task

__all__ = [
    "TASKS",
    "DatasetPaths",
    "TaskContext",
    "TaskSample",
    "make_charades_standins",
    "make_demo_dataset",
    "parse_charades_annotations",
    "register_task",
]
