import pytest

from bots.templating import RenderBudget, TemplateError
from conversations.engine.urls import render_url


def url(template: str, **variables) -> str:
    return render_url(template, variables, budget=RenderBudget())


@pytest.mark.parametrize(
    ("template", "value", "expected"),
    [
        ("https://h/a/{{ v }}/b", "x/../y", "https://h/a/x%2F..%2Fy/b"),
        ("https://h/a/{{ v }}.json", "..", "https://h/a/...json"),
        ("https://h/s?q={{ v }}&n=1", "a&n=2#", "https://h/s?q=a%26n%3D2%23&n=1"),
        ("https://h/s?q={{ v }}", "tea cake+", "https://h/s?q=tea%20cake%2B"),
        ("https://h/s#{{ v }}", "a/b?c", "https://h/s#a%2Fb%3Fc"),
        ("https://h/{{ v }}", "café", "https://h/caf%C3%A9"),
        ("https://h/{{ v|raw_url }}", "a/b?c=1", "https://h/a/b?c=1"),
    ],
)
def test_values_are_encoded_for_their_position(template, value, expected):
    assert url(template, v=value) == expected


@pytest.mark.parametrize(
    ("template", "value", "message"),
    [
        ("{{ v }}/x", "https://evil.example", "scheme or host"),
        ("https://{{ v }}/x", "evil.example", "scheme or host"),
        ("https://h:{{ v }}/x", "8080", "scheme or host"),
        ("https://h/?{{ v }}=1", "admin", "query parameter's name"),
        ("https://h/a/{{ v }}/b", "..", "'.' or '..'"),
    ],
)
def test_values_cannot_change_the_url_structure(template, value, message):
    with pytest.raises(TemplateError, match=message):
        url(template, v=value)
