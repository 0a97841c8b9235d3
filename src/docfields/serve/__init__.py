"""The docfields service: the pipeline and each stage behind HTTP, with models that scale to zero.

``docfields serve`` runs it; in Python::

    from docfields.serve import ServeSettings, create_app
    app = create_app(ServeSettings(models={"cards": "models/cards"}, api_token="s3cret"))

Importing this package imports FastAPI; the ``docfields`` command imports it only for ``serve``.
"""

from docfields.serve.app import create_app, error_status, prepare_settings, run_server
from docfields.serve.models import LoadedModel, ModelCache
from docfields.serve.settings import ServeSettings

__all__ = ["LoadedModel", "ModelCache", "ServeSettings", "create_app", "error_status", "prepare_settings", "run_server"]
