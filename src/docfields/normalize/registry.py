"""Normalizer names, as written in a field configuration's ``Normalizer`` key, to normalizers.

Three kinds of name:

- ``date:<TARGET>`` is the built-in date rule (``date:YYYY-MM-DD``, ``date:DD/MM/YYYY``, or a
  pattern ``date:%d.%m.%Y``), with options after semicolons: ``order=MDY|DMY`` (how to read
  ``03/04/21``; unset leaves it ambiguous), ``pivot=50`` (two-digit years), and
  ``model=<dir or URL>`` to make it the hybrid (rules, then a validated model).
- an ``http(s)://`` URL is a normalizer service speaking ``{"inputs": [...]}`` ->
  ``{"generated_text": [...]}``;
- anything else is a local model directory written by ``docfields train seq2seq``.

Models are loaded once per name by whoever keeps them: ``resolve_normalizer(..., generators=)``
takes the caller's dict of loaded models (a pipeline worker's resources, one ``extract`` batch),
because post-processing asks for the same normalizer for every document; no module keeps them.

A service (``resolve_normalizer(..., allowed_urls=...)``) calls only URLs under prefixes its
operator allowed (``url_allowed``), and names from its clients are mapped to rules or to the
models it exposes (``exposed_normalizer_spec``): no request goes to an address a client chose.
What a normalizer service answers never reaches a message: errors name the URL and the status.

>>> resolve_normalizer("date:YYYY-MM-DD;order=MDY").normalize(["12/31/00"])[0].value
'2000-12-31'
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

from docfields.errors import NormalizerError, NormalizerUnavailableError, UnknownNormalizerError
from docfields.normalize.base import NormalizeContext, NormalizedValue, Normalizer, TextGenerator
from docfields.normalize.dates import DEFAULT_PROMPT_TEMPLATE
from docfields.normalize.hybrid import HybridDateNormalizer
from docfields.normalize.rules import DateRuleNormalizer

logger = logging.getLogger(__name__)

_OPTIONS = {"order", "pivot", "model", "yearless"}
_URL_SCHEMES = ("http://", "https://")
MAX_REPLY_BYTES = 16 * 2**20  # a normalizer's answer to one batch; more is refused, not read


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answered as errors: an allowed service must not send the request elsewhere."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


class ServiceGenerator:
    """Client of a normalizer service: batches of prompts in, generated texts out.

    Args:
        url: The endpoint, e.g. ``http://localhost:8000/normalize``.
        timeout: Seconds per request.
        batch_size: Prompts per request.
    """

    def __init__(self, url: str, timeout: float = 30.0, batch_size: int = 64) -> None:
        self.url, self.timeout, self.batch_size = url, timeout, batch_size

    def generate(self, texts: Sequence[str]) -> list[str]:
        """Outputs in input order.

        Raises:
            NormalizerError: naming the URL on a network error, an HTTP error or a bad reply.
        """
        out: list[str] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(self._post(list(texts[start : start + self.batch_size])))
        return out

    def _post(self, batch: list[str]) -> list[str]:
        body = json.dumps({"inputs": batch}).encode("utf-8")
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        reply = self._reply(request)
        generated = reply.get("generated_text") if isinstance(reply, dict) else None
        if isinstance(generated, str) and len(batch) == 1:
            generated = [generated]
        if not isinstance(generated, list) or len(generated) != len(batch):
            expected = f"{{'generated_text': [{len(batch)} strings]}}"
            raise NormalizerError(f"{self.url}: expected {expected}, got another shape")
        return [str(g).strip() for g in generated]

    def _reply(self, request: urllib.request.Request) -> object:
        """The parsed JSON answer. Errors say what failed (status, error class), never what the
        service wrote: its text would travel into results' Warnings."""
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                data = response.read(MAX_REPLY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            kind = NormalizerUnavailableError if exc.code >= 500 else NormalizerError
            raise kind(f"{self.url}: normalizer service answered HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise NormalizerUnavailableError(
                f"{self.url}: normalizer service unreachable ({type(exc).__name__})"
            ) from exc
        except ValueError as exc:
            raise NormalizerError(f"{self.url}: normalizer service unreachable ({type(exc).__name__})") from exc
        if len(data) > MAX_REPLY_BYTES:
            raise NormalizerError(f"{self.url}: normalizer service answer over {MAX_REPLY_BYTES:,} bytes")
        try:
            return json.loads(data)
        except ValueError as exc:
            raise NormalizerError(f"{self.url}: normalizer service answer is not JSON") from exc


class GeneratorNormalizer:
    """A model or service used on its own: ``prompt + text`` in, its output taken as is.

    Nothing validates the output (the model may normalize anything, not only dates); an empty
    output is marked invalid and a service error failed, so both go to review.
    """

    def __init__(self, name: str, generator: TextGenerator, prompt: str = "", source: str = "model") -> None:
        self.name, self.generator, self.prompt = name, generator, prompt
        self.source = "service" if source == "service" else "model"

    def normalize(
        self, texts: Sequence[str], contexts: Sequence[NormalizeContext] | None = None
    ) -> list[NormalizedValue]:
        """One value per text; never raises for a bad text or a bad answer, only for a service that did not answer.

        ``contexts`` are accepted and unused: a plain model or service is asked the text alone."""
        try:
            outputs = self.generator.generate([self.prompt + t for t in texts])
        except NormalizerUnavailableError:
            raise
        except NormalizerError as exc:
            logger.warning("%s failed on %d texts: %s", self.name, len(texts), exc)
            return [NormalizedValue(raw=t, status="failed", source=self.source, reason=str(exc)) for t in texts]
        return [self._value(t, o.strip()) for t, o in zip(texts, outputs, strict=True)]

    def _value(self, text: str, output: str) -> NormalizedValue:
        if not output:
            return NormalizedValue(raw=text, status="invalid", source=self.source,
                                   reason="empty output", generated=output)  # fmt: skip
        return NormalizedValue(raw=text, value=output, status="ok", source=self.source, generated=output)


def parse_rule_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``date:YYYY-MM-DD;order=MDY`` -> (``YYYY-MM-DD``, ``{"order": "MDY"}``).

    Raises:
        UnknownNormalizerError: on an unknown option or a malformed one.
    """
    target, *rest = spec.removeprefix("date").removeprefix(":").split(";")
    options: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in _OPTIONS:
            raise UnknownNormalizerError(f"{spec}: unknown option {item!r} (known: {sorted(_OPTIONS)})")
        options[key.strip()] = value.strip()
    return target.strip(), options


def url_allowed(url: str, prefixes: Sequence[str]) -> bool:
    """Whether ``url`` lies under one of ``prefixes``: same scheme, host and port, and a path at or
    below the prefix's path (at a ``/``), with no ``.``/``..`` segment, backslash or control character.

    Host and port are compared whole, so ``http://normalizer`` never admits ``http://normalizer.evil``
    nor ``http://normalizer@evil``.

    >>> url_allowed("http://127.0.0.1:9000/normalize", ["http://127.0.0.1:9000/"])
    True
    >>> url_allowed("http://127.0.0.1:9001/normalize", ["http://127.0.0.1:9000/"])
    False
    """
    if any(ord(char) <= 0x20 or char == "\\" for char in url):
        return False
    try:
        target = urlsplit(url)
    except ValueError:
        return False
    if any(unquote(segment) in (".", "..") for segment in target.path.split("/")):
        return False
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        if (target.scheme.lower(), target.netloc.lower()) != (allowed.scheme.lower(), allowed.netloc.lower()):
            continue
        base = allowed.path.rstrip("/")
        if target.path == allowed.path or target.path.startswith(base + "/") or not base:
            return True
    return False


def normalizer_urls(spec: str) -> list[str]:
    """The service URLs a normalizer name would call: the name itself, or a date rule's ``model=``.

    Raises:
        UnknownNormalizerError: when a date rule's options are malformed.
    """
    spec = spec.strip()
    if spec.startswith(_URL_SCHEMES):
        return [spec]
    if spec.startswith("date:"):
        model = parse_rule_spec(spec)[1].get("model", "")
        return [model] if model.startswith(_URL_SCHEMES) else []
    return []


def check_normalizer_urls(spec: str, allowed_urls: Sequence[str]) -> None:
    """Refuse a normalizer name that would call a URL outside ``allowed_urls``.

    Raises:
        NormalizerError: naming the URL and how the operator allows one.
    """
    for url in normalizer_urls(spec):
        if not url_allowed(url, allowed_urls):
            raise NormalizerError(
                f"{url}: not an allowed normalizer URL; the operator allows service URLs at start-up "
                "(docfields serve --normalizer-url PREFIX)"
            )


def exposed_normalizer_spec(name: str, models: Mapping[str, str]) -> str:
    """The normalizer a client may name, as a spec to resolve: a built-in ``date:`` rule (its
    ``model=`` option a name from ``models``), or a name from ``models`` (name -> directory).

    Clients never name a path or a URL: the error is the same whether a path exists or not, so
    it reveals nothing about the server's files.

    Raises:
        UnknownNormalizerError: for anything else, listing the exposed names.
    """
    name = name.strip()
    if name.startswith("date:"):
        target, options = parse_rule_spec(name)
        if "model" in options:
            options["model"] = _exposed_model(options["model"], models, name)
        return ";".join([f"date:{target}", *(f"{key}={value}" for key, value in options.items())])
    return _exposed_model(name, models, name)


def _exposed_model(name: str, models: Mapping[str, str], spec: str) -> str:
    if name in models:  # a key the operator chose, looked up: never a path
        return models[name]
    known = ", ".join(sorted(models)) or "none"
    raise UnknownNormalizerError(
        f"{spec[:200]!r} is not a normalizer of this service: use date:<FORMAT> (e.g. date:YYYY-MM-DD), "
        f"optionally with ;model=NAME, or a model NAME; models: {known}"
    )


def load_generator(
    location: str, generators: MutableMapping[str, TextGenerator] | None = None, device: str = "auto"
) -> TextGenerator:
    """A local model directory (loaded onto ``device``) or a service URL; kept in ``generators`` (the caller's
    cache) when given."""
    if generators is not None and location in generators:
        return generators[location]
    if location.startswith(_URL_SCHEMES):
        generator: TextGenerator = ServiceGenerator(location)
    else:
        from docfields.normalize.seq2seq import Seq2SeqModel

        generator = Seq2SeqModel.load(location, device)
    if generators is not None:
        generators[location] = generator
    return generator


def _date_normalizer(
    spec: str, generators: MutableMapping[str, TextGenerator] | None, device: str = "auto"
) -> Normalizer:
    target, options = parse_rule_spec(spec)
    order = options.get("order", "").upper() or None
    if order not in (None, "MDY", "DMY"):
        raise UnknownNormalizerError(f"{spec}: order must be MDY or DMY, not {order!r}")
    try:
        pivot = int(options.get("pivot", "50"))
    except ValueError as exc:
        raise UnknownNormalizerError(f"{spec}: pivot must be a whole number") from exc
    yearless = options.get("yearless", "nearest").lower()
    if yearless not in ("nearest", "after", "before"):
        raise UnknownNormalizerError(f"{spec}: yearless must be nearest, after or before, not {yearless!r}")
    if "model" not in options:
        return DateRuleNormalizer(target or None, order=order, year_pivot=pivot, yearless=yearless)  # type: ignore[arg-type]
    generator = load_generator(options["model"], generators, device)
    card = getattr(generator, "card", None)
    template = getattr(card, "prompt_template", None) or DEFAULT_PROMPT_TEMPLATE
    return HybridDateNormalizer(target or None, generator, template, pivot, order, yearless)  # type: ignore[arg-type]


def resolve_normalizer(
    spec: str,
    prompt: str | None = None,
    allowed_urls: Sequence[str] | None = None,
    generators: MutableMapping[str, TextGenerator] | None = None,
    device: str = "auto",
) -> Normalizer:
    """The normalizer a field configuration names.

    Args:
        spec: ``date:<TARGET>[;order=..][;pivot=..][;model=..]``, a URL, or a model directory.
        prompt: Prefix put before each text for a plain model or service (the field's
            ``NormalizerPrompt``); rules and the hybrid build their own.
        allowed_urls: URL prefixes a service may be called at; None: any (a user's own
            configuration, on the command line).
        generators: The caller's loaded models and service clients by location, reused and
            filled; None loads afresh.
        device: Where a model loads (``docfields.device``); services run where they run.

    Raises:
        UnknownNormalizerError: when ``spec`` is none of the three kinds.
        NormalizerError: when the model directory cannot be loaded, or the URL is not allowed.
    """
    spec = spec.strip()
    if allowed_urls is not None:
        check_normalizer_urls(spec, allowed_urls)
    if spec == "date" or spec.startswith("date:"):
        return _date_normalizer(spec, generators, device)
    if spec.startswith(_URL_SCHEMES):
        return GeneratorNormalizer(spec, load_generator(spec, generators), prompt or "", source="service")
    if Path(spec).is_dir():
        return GeneratorNormalizer(spec, load_generator(spec, generators, device), prompt or "")
    raise UnknownNormalizerError(
        f"{spec!r} is not a normalizer: use date:<FORMAT> (e.g. date:YYYY-MM-DD), "
        "an http(s) URL, or an existing model directory"
    )
