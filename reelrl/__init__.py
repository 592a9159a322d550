"""ReelRL: RL post-training and evaluation of video VLMs as a Dagster asset graph."""

from evaluation.manifest import package_version

__version__ = package_version()
