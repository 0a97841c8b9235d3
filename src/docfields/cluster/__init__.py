"""Run docfields on a Ray cluster (the optional ``docfields[ray]`` extra).

``ray_session(ADDRESS)`` connects (``local``, ``auto``, ``ray://host:port`` or ``host:port``) and
shuts down only what it started; ``RayOcrExecutor`` runs a corpus OCR batch on the cluster with
the same plan, outputs and failure records as the local process pool; ``RayExecutor`` runs
pipeline stages on a pool of actors for the driver that keeps the store. Ray is imported inside
functions, so importing this package costs nothing without Ray.
"""

from docfields.cluster.connect import init_arguments, ray_session
from docfields.cluster.ocr import RayOcrExecutor
from docfields.cluster.pipeline import RayExecutor, ray_executor

__all__ = ["RayExecutor", "RayOcrExecutor", "init_arguments", "ray_executor", "ray_session"]
