import time

import pytest

from bots.templating import (
    MAX_OUTPUT_CHARS,
    RenderBudget,
    RenderBudgetExceeded,
    TemplateError,
    check_template,
    render,
    render_json,
)


def test_render_substitutes_variables():
    assert render("Hello, {{ name }}!", {"name": "Ada"}) == "Hello, Ada!"


def test_missing_variable_renders_empty():
    assert render("[{{ nobody }}]", {}) == "[]"


def test_missing_parent_of_dotted_path_renders_empty():
    assert render("[{{ order.total }}|{{ a.b.c }}]", {}) == "[|]"


def test_dotted_path_reads_nested_values():
    variables = {"order": {"total": 42, "items": [{"name": "tea"}]}}

    assert render("{{ order.total }} {{ order.items[0].name }}", variables) == "42 tea"


def test_dict_key_wins_over_dict_method_of_same_name():
    assert render("{{ order.items }}", {"order": {"items": [1, 2]}}) == "[1, 2]"


def test_output_is_not_html_escaped():
    assert render("{{ text }}", {"text": "<b>&</b>"}) == "<b>&</b>"


def test_filters_and_loops_work():
    source = "{% for x in items %}{{ loop.index }}.{{ x|upper }} {% endfor %}{{ items|join(',') }}"

    assert render(source, {"items": ["a", "b"]}) == "1.A 2.B a,b"


def test_safe_string_methods_can_be_called():
    assert render("{{ name.strip().title() }}", {"name": "  ada lovelace "}) == "Ada Lovelace"


def test_syntax_error_raises_template_error_with_line():
    with pytest.raises(TemplateError, match="line 2"):
        render("ok\n{{ name }", {})


def test_check_template_returns_message_or_none():
    assert check_template("Hi {{ name }}") is None
    assert "unexpected '}'" in check_template("Hi {{ name }")
    assert "No filter named 'nope'" in check_template("{{ x|nope }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ items.append(1) }}",
    ],
)
def test_sandbox_refuses_internal_attributes_and_mutation(source):
    with pytest.raises(TemplateError, match="unsafe"):
        render(source, {"items": []})


def test_huge_string_multiplication_is_refused_quickly():
    started = time.monotonic()

    with pytest.raises(TemplateError, match="size limit"):
        render("{{ 'x' * 10**9 }}", {})

    assert time.monotonic() - started < 1


def test_huge_power_is_refused():
    with pytest.raises(TemplateError, match="size limit"):
        render("{{ 2 ** 100000 }}", {})


def test_padding_through_format_is_refused():
    with pytest.raises(TemplateError):
        render("{{ '{:>999999999}'.format(1) }}", {})
    with pytest.raises(TemplateError, match="not allowed"):
        render("{{ '%0999999999d' % 1 }}", {})
    assert "No filter named 'center'" in check_template("{{ 'x'|center(999999999) }}")


def test_replace_and_join_cannot_build_huge_strings():
    with pytest.raises(TemplateError, match="'replace' filter"):
        render("{{ 'ab'|replace('', 'y' * 50000) }}", {})
    with pytest.raises(TemplateError, match="'join' filter"):
        render("{{ range(10000)|join('y' * 1000) }}", {})


def test_sum_only_adds_numbers():
    assert render("{{ [1, 2.5]|sum }}", {}) == "3.5"
    with pytest.raises(TemplateError, match="'sum' filter"):
        render("{{ lists|sum(start=[]) }}", {"lists": [[1], [2]]})


def test_doubling_in_a_loop_is_refused():
    source = (
        "{% set ns = namespace(v='x') %}"
        "{% for i in range(60) %}{% set ns.v = ns.v ~ ns.v %}{% endfor %}{{ ns.v|length }}"
    )

    with pytest.raises(TemplateError, match="size limit"):
        render(source, {})


def test_nested_list_references_cannot_grow_exponentially():
    source = (
        "{% set ns = namespace(v=[1]) %}"
        "{% for i in range(60) %}{% set ns.v = [ns.v, ns.v] %}{% endfor %}{{ ns.v }}"
    )

    with pytest.raises(TemplateError, match="size limit"):
        render(source, {})


def test_macro_output_is_size_checked():
    source = "{% macro m() %}{% for i in range(5000) %}{{ big }}{% endfor %}{% endmacro %}{{ m() }}"

    with pytest.raises(TemplateError, match="size limit"):
        render(source, {"big": "y" * 1000})


def test_nested_loops_exhaust_the_step_budget():
    source = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"

    with pytest.raises(TemplateError, match="loop iterations"):
        render(source, {})


def test_exponential_recursion_exhausts_the_step_budget():
    source = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    )

    with pytest.raises(TemplateError, match="loop iterations or calls"):
        render(source, {})


def test_output_is_cut_at_max_chars():
    assert len(render("{{ text }}", {"text": "y" * 50_000})) == MAX_OUTPUT_CHARS
    assert render("{{ text }}", {"text": "abcdef"}, max_chars=3) == "abc"


def test_runtime_errors_become_template_errors():
    with pytest.raises(TemplateError, match="division by zero"):
        render("{{ 1 / 0 }}", {})


def test_include_is_refused():
    with pytest.raises(TemplateError):
        render("{% include 'settings.py' %}", {})


def test_render_json_renders_every_nested_string():
    body = {"name": "{{ who }}", "tags": ["{{ who }}!", 1, None, True], "{{ key }}": {"n": 2}}

    assert render_json(body, {"who": "Ada"}) == {
        "name": "Ada",
        "tags": ["Ada!", 1, None, True],
        "{{ key }}": {"n": 2},
    }


def test_templates_are_compiled_once():
    from bots.templating import _compile

    source = "cached {{ x }} template"
    render(source, {"x": 1})
    hits = _compile.cache_info().hits

    render(source, {"x": 2})

    assert _compile.cache_info().hits == hits + 1


def test_values_up_to_the_size_limit_are_allowed():
    assert len(render("{{ 'ab' * 40000 }}", {}, max_chars=100_000)) == 80_000
    assert render("{{ ([1, 2] * 3)|length }} {{ (['a'] + ['b'])|join }}", {}) == "6 ab"


def test_renders_sharing_a_budget_stop_once_it_is_spent():
    loop = "{% for i in range(3000) %}{{ 'ab'.split('b')|length }}{% endfor %}"
    budget = RenderBudget(0.0001)

    with pytest.raises(RenderBudgetExceeded, match="CPU time in this turn"):
        for _ in range(100):
            render(loop, {}, budget=budget)

    assert budget.left < 0
