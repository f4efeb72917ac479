"""One module per backend; all implement :class:`faceport.verify.runners.base.Runner`."""

from faceport.verify.runners.base import Runner, RunnerUnavailable

__all__ = ["Runner", "RunnerUnavailable"]
