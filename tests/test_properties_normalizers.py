"""Property tests of the normalizers' inputs (issue 14): texts, rule names, client names and URLs.

Random strings (any unicode, control characters, very long ones) go to the ``date:`` rule
normalizers, to rule names with random targets and options, to the registry's resolution of
client names (``exposed_normalizer_spec``) and to the URL allow-list. The property: a result
(one ``NormalizedValue`` per text; a spec; a yes or no) or a ``DocfieldsError``, never another
exception, and never a request: resolution runs with an empty allow-list.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from docfields.errors import DocfieldsError
from docfields.normalize.registry import (
    check_normalizer_urls,
    exposed_normalizer_spec,
    resolve_normalizer,
    url_allowed,
)

FAST = settings(max_examples=80)
TARGETS = ("YYYY-MM-DD", "DD/MM/YYYY", "MMMM D, YYYY", "%d.%m.%Y", "%A %d %B %Y %H:%M")
LONG = st.builds(lambda text, n: text * n, st.text(min_size=1, max_size=8), st.integers(100, 2000))
TEXTS = st.text() | st.text(alphabet=st.characters(max_codepoint=0x1F)) | LONG
DATEISH = st.from_regex(r"\A[0-9]{1,4}[/.\- ][0-9A-Za-z]{1,9}[/.\- ][0-9]{1,4}\Z")
MODELS = {"dates": "/models/dates", "other": "/models/other"}


def _option() -> st.SearchStrategy[str]:
    order = st.sampled_from(["order=MDY", "order=DMY", "order=YMD"])
    pivot = st.builds("pivot={}".format, st.integers(-10, 200) | st.text(max_size=4))
    return order | pivot | st.text(max_size=10).filter(lambda text: "model" not in text)


@FAST
@given(st.sampled_from(TARGETS), st.sampled_from([None, "MDY", "DMY"]), st.lists(TEXTS | DATEISH, max_size=4))
def test_date_rules_normalize_any_text_to_one_value_each(target, order, texts):
    spec = f"date:{target}" + (f";order={order}" if order else "")
    values = resolve_normalizer(spec, allowed_urls=[]).normalize(texts)
    assert len(values) == len(texts)
    for text, value in zip(texts, values, strict=True):
        assert value.raw == text and (value.needs_review or value.value)


@FAST
@given(TEXTS, st.lists(_option(), max_size=3), TEXTS)
def test_any_rule_name_builds_a_normalizer_or_a_docfields_error(target, options, text):
    spec = ";".join([f"date:{target}", *options])
    try:
        normalizer = resolve_normalizer(spec, allowed_urls=[])
    except DocfieldsError:
        return
    assert len(normalizer.normalize([text])) == 1


@FAST
@given(TEXTS | st.builds("date:YYYY-MM-DD;model={}".format, TEXTS) | st.sampled_from(["dates", "../dates", "/tmp"]))
def test_a_client_name_resolves_to_a_rule_or_an_exposed_model_or_a_docfields_error(name):
    try:
        spec = exposed_normalizer_spec(name, MODELS)
    except DocfieldsError as exc:
        assert "is not a normalizer of this service" in str(exc) or name.strip().startswith("date:")
        return
    model = spec.partition(";model=")[2] if spec.startswith("date:") else spec
    assert spec.startswith("date:") or spec in MODELS.values()
    assert not model or model in MODELS.values()  # never a path or a URL the client wrote


@FAST
@given(TEXTS | st.builds("http://{}".format, TEXTS), st.lists(st.sampled_from(["http://127.0.0.1:9/", "https://n/api"])))
def test_url_checks_answer_yes_no_or_a_docfields_error(url, prefixes):
    assert url_allowed(url, prefixes) in (True, False)
    try:
        check_normalizer_urls(url, prefixes)
    except DocfieldsError as exc:
        assert "not an allowed normalizer URL" in str(exc)
