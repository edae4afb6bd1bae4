"""overrides/django_middleware.py copies MiddlewareMixin.__acall__ and runs the stock
hooks inline, relying on them doing no I/O: pin that code (Django 5.2.19, django-csp 4.0)."""

from csp.middleware import CSPMiddleware
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.deprecation import MiddlewareMixin

from overrides import django_middleware
from tests.overrides.upstream import changed

HOOKS = ("process_request", "process_view", "process_response")
UPSTREAM = (
    SecurityMiddleware,
    CSPMiddleware,
    SessionMiddleware,
    CommonMiddleware,
    CsrfViewMiddleware,
    AuthenticationMiddleware,
    MessageMiddleware,
    XFrameOptionsMiddleware,
)
PINNED = {
    "MiddlewareMixin.__acall__": (MiddlewareMixin.__acall__, "adf8cbcaf9f11e45"),
    "SecurityMiddleware.process_request": (SecurityMiddleware.process_request, "3373d262748cbe3e"),
    "SecurityMiddleware.process_response": (
        SecurityMiddleware.process_response,
        "3822bd0d5f79f4a3",
    ),
    "CSPMiddleware.process_request": (CSPMiddleware.process_request, "bf5a743128a430b8"),
    "CSPMiddleware.process_response": (CSPMiddleware.process_response, "fa72a0cd0d633c49"),
    "SessionMiddleware.process_request": (SessionMiddleware.process_request, "6782d24847e4a926"),
    "SessionMiddleware.process_response": (
        SessionMiddleware.process_response,
        "fbaf5503c20d7dd0",
    ),
    "CommonMiddleware.process_request": (CommonMiddleware.process_request, "993f4d1f2084e01e"),
    "CommonMiddleware.process_response": (CommonMiddleware.process_response, "eb5ad294e9fbda9b"),
    "CsrfViewMiddleware.process_request": (
        CsrfViewMiddleware.process_request,
        "9aec8dfd81c88a56",
    ),
    "CsrfViewMiddleware.process_view": (CsrfViewMiddleware.process_view, "cdbdabe04318fc2f"),
    "CsrfViewMiddleware.process_response": (
        CsrfViewMiddleware.process_response,
        "9fe1054c0f64b37f",
    ),
    "AuthenticationMiddleware.process_request": (
        AuthenticationMiddleware.process_request,
        "6dd39b90ad6373e2",
    ),
    "MessageMiddleware.process_request": (MessageMiddleware.process_request, "7f4834ba26ee0583"),
    "MessageMiddleware.process_response": (
        MessageMiddleware.process_response,
        "04469c9493c90e26",
    ),
    "XFrameOptionsMiddleware.process_response": (
        XFrameOptionsMiddleware.process_response,
        "045e5788270860c6",
    ),
}


def test_upstream_acall_and_hooks_are_the_ones_the_override_was_written_against():
    assert changed(PINNED) == []


def test_every_hook_run_inline_is_pinned():
    # A hook added upstream (a new process_view, say) would run inline unreviewed.
    hooks = {f"{cls.__name__}.{hook}" for cls in UPSTREAM for hook in HOOKS if hasattr(cls, hook)}
    assert hooks == set(PINNED) - {"MiddlewareMixin.__acall__"}


def test_each_override_subclasses_the_stock_middleware_of_the_same_name():
    for cls in UPSTREAM:
        override = getattr(django_middleware, cls.__name__)
        assert override.__mro__[1:3] == (django_middleware.InlineHooks, cls)
