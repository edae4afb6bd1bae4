"""Who am I, session login/logout and API tokens."""

from datetime import datetime

import strawberry
import strawberry_django
from django.contrib.auth import aauthenticate, alogin, logout
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from strawberry import auto, relay

from accounts import models, services
from accounts.backends import PasswordThrottled
from accounts.selectors import api_token_list
from core.exceptions import Forbidden
from core.ratelimit import RateLimited
from schema.bots.types import User
from schema.common import ScopedNode, pk_from_global_id, visible
from schema.context import Info

ApiTokenScope = strawberry.enum(
    models.ApiTokenScope, description="What an API token may do: READ runs no mutations."
)


class PasswordRequired(Forbidden):
    code = "password_required"


@strawberry_django.type(models.ApiToken)
class ApiToken(ScopedNode):
    name: auto
    prefix: auto
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    expires_at: datetime | None
    scope: ApiTokenScope

    @classmethod
    def scope(cls, queryset, info):
        return visible(info, queryset, api_token_list)


@strawberry.type
class CreatedApiToken:
    token: ApiToken
    secret: str = strawberry.field(description="The bearer token. Shown once: store it now.")


@strawberry.input
class LoginInput:
    username: str
    password: str


@strawberry.input
class CreateApiTokenInput:
    name: str
    scope: ApiTokenScope = ApiTokenScope.WRITE
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the token stops working; never if null."
    )


@strawberry.input
class RevokeApiTokenInput:
    id: relay.GlobalID


def _http_request(info: Info) -> HttpRequest:
    request = info.context.request
    if not isinstance(request, HttpRequest):
        raise ValidationError("Log in over HTTP, not over the websocket.", code="http_only")
    return request


@strawberry.type
class AccountQuery:
    @strawberry_django.field(description="The authenticated user, or null.")
    def me(self, info: Info) -> User | None:
        user = info.context.user
        return user if user.is_authenticated else None

    @strawberry_django.field(description="Your API tokens (secrets are never shown again).")
    def api_tokens(self, info: Info) -> list[ApiToken]:
        return list(info.context.get_user().api_tokens.all())


@strawberry.type
class AccountMutation:
    @strawberry_django.mutation(handle_django_errors=True)
    async def login(self, info: Info, input: LoginInput) -> User:
        request = _http_request(info)
        try:
            user = await aauthenticate(request, username=input.username, password=input.password)
        except PasswordThrottled as exc:
            raise RateLimited("failed logins", exc.retry_after) from exc
        if user is None:
            raise ValidationError("Invalid username or password.", code="invalid_credentials")
        await alogin(request, user)
        info.context.user = user
        return user

    @strawberry_django.mutation
    def logout(self, info: Info) -> bool:
        request = _http_request(info)
        was_authenticated = request.user.is_authenticated
        logout(request)
        return was_authenticated

    @strawberry_django.mutation(handle_django_errors=True)
    def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreatedApiToken:
        user = info.context.get_user()
        # A leaked token must not be able to mint tokens that outlive its revocation.
        if info.context.credential is None or info.context.credential.kind == "token":
            raise PasswordRequired(
                "Creating an API token needs your password: log in, or use HTTP Basic."
            )
        token, secret = services.api_token_create(
            user=user, name=input.name, scope=input.scope, expires_at=input.expires_at
        )
        return CreatedApiToken(token=token, secret=secret)

    @strawberry_django.mutation(handle_django_errors=True)
    def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> ApiToken:
        token_id = pk_from_global_id(input.id, "ApiToken")
        return services.api_token_revoke(user=info.context.get_user(), token_id=token_id)
