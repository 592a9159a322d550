"""ReelRL: RL post-training and evaluation of video VLMs as a Dagster asset graph."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reelrl")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"
