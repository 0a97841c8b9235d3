"""Normalizer names, as written in a field configuration's ``Normalizer`` key, to normalizers.

Three kinds of name:

- a built-in rule, ``<kind>:<target>`` with options after semicolons (``parse_rule_spec``):
  ``date:<TARGET>`` (``date:YYYY-MM-DD``, ``date:DD/MM/YYYY``, a pattern ``date:%d.%m.%Y``, or no
  target: the original's prompt format names it) with ``order=MDY|DMY`` (how to read ``03/04/21``;
  unset leaves it ambiguous), ``pivot=50`` (two-digit years), ``yearless=nearest|after|before``,
  and ``model=<dir or URL>`` to make it the hybrid (rules, then a validated model);
  ``money:<CURRENCY>`` (``money:USD``; ``money`` alone is USD) and ``percent`` (fees and rates,
  ``normalize.money``), whose ``model=`` makes the validated amount hybrid;
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
>>> resolve_normalizer("money:USD").normalize(["Up to $40"])[0].value
'up to 40.00 USD'
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import unquote, urlsplit

from docfields.errors import NormalizerError, NormalizerUnavailableError, UnknownNormalizerError
from docfields.normalize.base import NormalizeContext, NormalizedValue, Normalizer, TextGenerator, YearlessPolicy
from docfields.normalize.dates import DEFAULT_PROMPT_TEMPLATE
from docfields.normalize.hybrid import AMOUNT_PROMPT_TEMPLATE, AmountHybridNormalizer, HybridDateNormalizer
from docfields.normalize.money import DEFAULT_CURRENCY, MoneyRuleNormalizer, PercentRuleNormalizer
from docfields.normalize.rules import DateRuleNormalizer

logger = logging.getLogger(__name__)

RuleKind = Literal["date", "money", "percent"]
RULE_KINDS: tuple[RuleKind, ...] = get_args(RuleKind)
_OPTIONS: dict[str, set[str]] = {
    "date": {"order", "pivot", "model", "yearless"},
    "money": {"model"},
    "percent": {"model"},
}
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


@dataclass(frozen=True)
class RuleSpec:
    """A built-in rule's name taken apart: ``money:USD;model=m`` is kind ``money``, target ``USD``,
    options ``{"model": "m"}``; ``str()`` writes the name again."""

    kind: RuleKind
    target: str = ""
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return ";".join([f"{self.kind}:{self.target}", *(f"{key}={value}" for key, value in self.options.items())])


def rule_kind(spec: str) -> RuleKind | None:
    """The built-in rule ``spec`` names (``date``, ``money`` or ``percent``, before a ``:`` or
    ``;`` or alone), or None for anything else (a URL, a model directory).

    >>> rule_kind("money:USD"), rule_kind("percent"), rule_kind("models/dates")
    ('money', 'percent', None)
    """
    head = spec.strip().split(";", 1)[0].split(":", 1)[0].strip()
    return next((kind for kind in RULE_KINDS if kind == head), None)


def parse_rule_spec(spec: str) -> RuleSpec:
    """``date:YYYY-MM-DD;order=MDY`` -> ``RuleSpec("date", "YYYY-MM-DD", {"order": "MDY"})``.

    Raises:
        UnknownNormalizerError: when ``spec`` names no built-in rule, or on an option the rule does
            not take or a malformed one.
    """
    kind = rule_kind(spec)
    if kind is None:
        raise UnknownNormalizerError(f"{spec[:200]!r} is not a built-in rule (known: {', '.join(RULE_KINDS)})")
    head, *rest = spec.strip().split(";")
    options: dict[str, str] = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in _OPTIONS[kind]:
            raise UnknownNormalizerError(f"{spec}: unknown option {item!r} (known: {sorted(_OPTIONS[kind])})")
        options[key.strip()] = value.strip()
    return RuleSpec(kind, head.partition(":")[2].strip(), options)


def check_rule_spec(spec: str) -> RuleSpec:
    """The rule ``spec`` names, checked by building it without loading its model (a cheap check of
    a configuration: target, options, currency).

    Raises:
        UnknownNormalizerError: when the name or an option is wrong (see ``resolve_normalizer``).
        NormalizerError: when a date target is no format.
    """
    rule = parse_rule_spec(spec)
    unloaded = {key: value for key, value in rule.options.items() if key != "model"}
    _rule_normalizer(replace(rule, options=unloaded), None)
    return rule


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
    """The service URLs a normalizer name would call: the name itself, or a rule's ``model=``.

    Raises:
        UnknownNormalizerError: when a rule's options are malformed.
    """
    spec = spec.strip()
    if spec.startswith(_URL_SCHEMES):
        return [spec]
    if rule_kind(spec):
        model = parse_rule_spec(spec).options.get("model", "")
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
    """The normalizer a client may name, as a spec to resolve: a built-in rule (``date:...``,
    ``money:USD``, ``percent``; its ``model=`` option a name from ``models``), or a name from
    ``models`` (name -> directory).

    Clients never name a path or a URL: the error is the same whether a path exists or not, so
    it reveals nothing about the server's files.

    Raises:
        UnknownNormalizerError: for anything else, listing the exposed names.
    """
    name = name.strip()
    if rule_kind(name):
        rule = parse_rule_spec(name)
        if "model" in rule.options:
            rule = replace(rule, options=rule.options | {"model": _exposed_model(rule.options["model"], models, name)})
        return str(rule)
    return _exposed_model(name, models, name)


def _exposed_model(name: str, models: Mapping[str, str], spec: str) -> str:
    if name in models:  # a key the operator chose, looked up: never a path
        return models[name]
    known = ", ".join(sorted(models)) or "none"
    raise UnknownNormalizerError(
        f"{spec[:200]!r} is not a normalizer of this service: use date:<FORMAT> (e.g. date:YYYY-MM-DD), "
        f"money:<CURRENCY> or percent, optionally with ;model=NAME, or a model NAME; models: {known}"
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


def _rule_normalizer(
    rule: RuleSpec, generators: MutableMapping[str, TextGenerator] | None, device: str = "auto"
) -> Normalizer:
    if rule.kind == "date":
        return _date_normalizer(rule, generators, device)
    if rule.kind == "money":
        rules: MoneyRuleNormalizer | PercentRuleNormalizer = MoneyRuleNormalizer(rule.target or DEFAULT_CURRENCY)
    elif rule.target:
        raise UnknownNormalizerError(f"{rule}: percent takes no target (write percent or percent:)")
    else:
        rules = PercentRuleNormalizer()
    if "model" not in rule.options:
        return rules
    generator = load_generator(rule.options["model"], generators, device)
    trained = getattr(getattr(generator, "card", None), "prompt_template", None)
    # a model trained with train seq2seq's default (the date prompt) is asked the amount prompt
    template = trained if trained and trained != DEFAULT_PROMPT_TEMPLATE else AMOUNT_PROMPT_TEMPLATE
    return AmountHybridNormalizer(rules, generator, template)


def _date_normalizer(
    rule: RuleSpec, generators: MutableMapping[str, TextGenerator] | None, device: str = "auto"
) -> Normalizer:
    spec, target, options = str(rule), rule.target, rule.options
    order = options.get("order", "").upper() or None
    if order not in (None, "MDY", "DMY"):
        raise UnknownNormalizerError(f"{spec}: order must be MDY or DMY, not {order!r}")
    try:
        pivot = int(options.get("pivot", "50"))
    except ValueError as exc:
        raise UnknownNormalizerError(f"{spec}: pivot must be a whole number") from exc
    yearless = options.get("yearless", "nearest").lower()
    if yearless not in get_args(YearlessPolicy):
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
        spec: A rule (``date:<TARGET>[;order=..][;pivot=..][;yearless=..][;model=..]``,
            ``money:<CURRENCY>``, ``percent``), a URL, or a model directory.
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
    if rule_kind(spec):
        return _rule_normalizer(parse_rule_spec(spec), generators, device)
    if spec.startswith(_URL_SCHEMES):
        return GeneratorNormalizer(spec, load_generator(spec, generators), prompt or "", source="service")
    if Path(spec).is_dir():
        return GeneratorNormalizer(spec, load_generator(spec, generators, device), prompt or "")
    raise UnknownNormalizerError(
        f"{spec!r} is not a normalizer: use date:<FORMAT> (e.g. date:YYYY-MM-DD), money:<CURRENCY>, percent, "
        "an http(s) URL, or an existing model directory"
    )
