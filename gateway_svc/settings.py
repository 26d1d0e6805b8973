"""gateway_svc's settings: the shared ServiceSettings, the internal hops, and the providers.

Environment variables are prefixed ``GATEWAY_``; ``python -m gateway_svc --help`` lists every
one (``gateway_settings_help``). Each provider's settings are a nested model, set with a double
underscore: ``GATEWAY_STRIPE__BASE_URL``, ``GATEWAY_STRIPE__SECRET_KEY``. A misspelt nested
name (``GATEWAY_STRIPE__SECRETKEY``) is refused at start-up (``extra="forbid"``).

The gateway's own certificate (``TLS_CERT_FILE`` / ``TLS_KEY_FILE`` / ``TLS_CA_FILE``, the
dev PKI's "gateway" workload) serves its gRPC port and is also the client certificate it
presents to Envoy's internal listener, which authorizes calls to the ledger and to identity's
AuditService by that certificate's SPIFFE id.

Provider credentials are ``SecretStr``: their values never appear in ``repr``, logs or
``--help``. Their defaults are the sandbox's own test credentials (sandbox/config.py holds
the same literals; the gateway never imports sandbox), so a development stack needs only the
sandbox's URL. An empty ``BASE_URL`` means "not configured": routing skips that provider.

Currencycloud (``GATEWAY_CURRENCYCLOUD__*``) is the FX and payout provider, not a card
provider, so it stays out of ``PROVIDER_FIELDS``, which routing and the card adapter builder
iterate. Without its ``BASE_URL`` the FX, beneficiary and payout RPCs answer UNAVAILABLE
(FX_PROVIDER_NOT_CONFIGURED); GetBalances, which reads only the ledger, still answers.
``FX_QUOTE_TTL_S``, ``FX_MARKUP_BPS`` and ``FX_POLL_INTERVAL_S`` tune quotes and the status
poller.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from gateway_svc.domain.fx import DEFAULT_QUOTE_TTL, MAX_MARKUP_BPS, MAX_QUOTE_TTL, MIN_QUOTE_TTL
from svc_kit.settings import ServiceSettings, is_loopback_addr

_ENV_PREFIX = "GATEWAY_"
_NESTED = "__"


class ProviderSettings(BaseModel):
    """How to reach one provider; the credentials are in each provider's subclass."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(
        default="",
        description="the provider's API root, before its own paths (the real host, or the "
        "sandbox's https://<host>:<port>/<provider>); empty: not configured, routing skips it",
    )
    sandbox: bool = Field(
        default=True,
        description="a test environment: raw test card numbers are accepted only here",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=120, description="read/write timeout per call; past it UNKNOWN"
    )
    connect_timeout_s: float = Field(
        default=2.0, gt=0, le=30, description="connect timeout; past it the call never left"
    )
    max_connections: int = Field(default=100, ge=1, le=10_000, description="connection pool size")
    ca_file: str = Field(
        default="",
        description="PEM CA bundle the provider's certificate must chain to; empty: the "
        "gateway's TLS_CA_FILE (the dev CA) in sandbox mode, the system trust store otherwise",
    )

    @model_validator(mode="after")
    def _url_is_safe(self) -> Self:
        url = self.base_url
        if not url:
            return self
        host = url.split("://", 1)[-1].split("/", 1)[0]
        if url.startswith("https://"):
            return self
        if url.startswith("http://") and self.sandbox and is_loopback_addr(host):
            return self  # a plaintext sandbox on loopback, for unit tests
        raise ValueError(
            f"base_url {url!r} must be https:// (http:// only for a sandbox on loopback)"
        )

    @property
    def configured(self) -> bool:
        """True when the provider has somewhere to send requests."""
        return bool(self.base_url)

    def resolved_ca_file(self, default_ca_file: str) -> str | None:
        """The CA bundle to verify the provider with; None means the system trust store."""
        if self.ca_file:
            return self.ca_file
        if self.sandbox and default_ca_file:
            return default_ca_file
        return None


class StripeSettings(ProviderSettings):
    """Stripe: ``Authorization: Bearer <secret_key>``."""

    secret_key: SecretStr = Field(
        default=SecretStr("sk_test_paymesh_sandbox_4eC39HqLyjWDarjtT1zdp7dc"),
        description="secret API key (sk_test_... / sk_live_...)",
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("whsec_paymesh_sandbox_stripe_5d1f0c7a9b"),
        description="the webhook endpoint's signing secret (whsec_...): verifies "
        "Stripe-Signature on provider callbacks",
    )


class AuthorizeNetSettings(ProviderSettings):
    """Authorize.net: merchantAuthentication name and transactionKey in every request."""

    login_id: str = Field(default="paymesh_sbx", description="API login id")
    transaction_key: SecretStr = Field(
        default=SecretStr("8Hk4Zr72Tq9pW3mX"), description="transaction key"
    )
    signature_key: SecretStr = Field(
        default=SecretStr("7A3F" * 32),
        description="Signature Key (128 hex characters): verifies X-ANET-Signature on "
        "provider callbacks",
    )


class RazorpaySettings(ProviderSettings):
    """Razorpay: HTTP Basic ``key_id:key_secret``."""

    key_id: str = Field(default="rzp_test_paymesh", description="key id (rzp_test_...)")
    key_secret: SecretStr = Field(
        default=SecretStr("rzp_secret_paymesh_sandbox"), description="key secret"
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("rzp_whsec_paymesh_sandbox"),
        description="the webhook's secret (set in Razorpay's dashboard, not the key secret): "
        "verifies X-Razorpay-Signature on provider callbacks",
    )


class PayPalSettings(ProviderSettings):
    """PayPal: OAuth2 client credentials, exchanged for a cached bearer token."""

    client_id: str = Field(default="paymesh-sandbox-client", description="REST app client id")
    client_secret: SecretStr = Field(
        default=SecretStr("paymesh-sandbox-secret"), description="REST app secret"
    )
    # An identifier, not a secret: PayPal's verification call checks the signature against
    # it, and only PayPal's key can sign; hence str, shown in --help like login_id.
    webhook_id: str = Field(
        default="WH-PAYMESH-SANDBOX-0001",
        description="the webhook's id (WH-...): named in each verify-webhook-signature call "
        "that verifies a provider callback",
    )
    order_search: bool | None = Field(
        default=None,
        description="look orders up by custom_id (the paymesh sandbox's read-only extension; "
        "real PayPal has no order search); unset: on in sandbox mode unless the base_url is "
        "a paypal.com host",
    )

    @model_validator(mode="after")
    def _search_only_off_paypal(self) -> Self:
        # Against PayPal itself the search answers an error, which must never be read as
        # "no such order": that is how a lookup would turn into a second charge.
        if self.order_search and _is_paypal_host(self.base_url):
            raise ValueError("order_search=true is refused for a paypal.com base_url")
        return self

    @property
    def searches_orders(self) -> bool:
        """Whether the adapter may use the sandbox's order search (``PayPalConfig``)."""
        if self.order_search is not None:
            return self.order_search
        return self.configured and self.sandbox and not _is_paypal_host(self.base_url)


class CurrencycloudSettings(ProviderSettings):
    """Currencycloud (FX, beneficiaries, payouts): a login with ``login_id`` and ``api_key``
    buys a session token, sent as ``X-Auth-Token``."""

    # The card-provider wording of these two does not fit an FX provider.
    base_url: str = Field(
        default="",
        description="the provider's API root (https://devapi.currencycloud.com, or the "
        "sandbox's https://<host>:<port>/currencycloud); empty: not configured, the FX, "
        "beneficiary and payout RPCs answer UNAVAILABLE (FX_PROVIDER_NOT_CONFIGURED)",
    )
    sandbox: bool = Field(
        default=True,
        description="a test environment (the paymesh sandbox or Currencycloud's demo)",
    )
    login_id: str = Field(default="sandbox@paymesh.local", description="API login id (an email)")
    api_key: SecretStr = Field(
        default=SecretStr("cb58751f6736223873756fa0659c26ec49bcea1f22b9892143cecd895797ef29"),
        description="API key (64 hex characters)",
    )
    webhook_secret: SecretStr = Field(
        default=SecretStr("cc_whsec_paymesh_sandbox"),
        description="the push notifications' signing secret: verifies X-CC-Signature on "
        "provider callbacks",
    )


def _is_paypal_host(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    host = host.lower().rstrip(".")
    return host == "paypal.com" or host.endswith(".paypal.com")


class GatewaySettings(ServiceSettings):
    """Environment variables prefixed GATEWAY_ (``python -m gateway_svc --help`` lists them)."""

    model_config = SettingsConfigDict(
        env_prefix=_ENV_PREFIX, extra="forbid", env_nested_delimiter=_NESTED
    )

    listen_addr: str = Field(
        default="127.0.0.1:50064",
        description="gRPC listen address, host:port (port 0 picks a free one)",
    )
    ledger_addr: str = Field(
        default="127.0.0.1:9443",
        description="the ledger, through Envoy's internal gRPC listener (mTLS with the "
        "gateway's own certificate), host:port",
    )
    identity_addr: str = Field(
        default="127.0.0.1:9443",
        description="identity's AuditService, through Envoy's internal gRPC listener, host:port",
    )
    internal_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="deadline of each call to the ledger or identity"
    )
    stripe: StripeSettings = Field(default_factory=StripeSettings, description="Stripe")
    authorizenet: AuthorizeNetSettings = Field(
        default_factory=AuthorizeNetSettings, description="Authorize.net"
    )
    razorpay: RazorpaySettings = Field(default_factory=RazorpaySettings, description="Razorpay")
    paypal: PayPalSettings = Field(default_factory=PayPalSettings, description="PayPal")
    currencycloud: CurrencycloudSettings = Field(
        default_factory=CurrencycloudSettings, description="Currencycloud"
    )
    fx_quote_ttl_s: float = Field(
        default=DEFAULT_QUOTE_TTL.total_seconds(),
        ge=MIN_QUOTE_TTL.total_seconds(),
        le=MAX_QUOTE_TTL.total_seconds(),
        description="seconds an FX quote locks its rate; a conversion on it after that is "
        "refused with QUOTE_EXPIRED",
    )
    fx_markup_bps: int = Field(
        default=0,
        ge=0,
        le=MAX_MARKUP_BPS,
        description="the platform's markup on the provider's FX rate, basis points against "
        "the merchant",
    )
    fx_poll_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="seconds between status poller passes over open conversions and payouts "
        "(each is checked 5 s after its creation, then at doubling intervals)",
    )
    webhook_secret_key: SecretStr = Field(
        default=SecretStr(""),
        description="key(s) sealing merchant webhook signing secrets at rest (AES-256-GCM): "
        "base64 of 32 bytes, or '<id>:<base64>,<id>:<base64>' with the sealing key first; "
        "empty: the published development key (make run and tests only)",
    )
    webhook_allow_private_destinations: bool = Field(
        default=False,
        description="loopback, private and link-local webhook destinations allowed, when an "
        "endpoint is saved and when each delivery connects: for local demo receivers only",
    )
    webhook_allow_insecure_http: bool = Field(
        default=False,
        description="http:// webhook URLs allowed besides https://: for local demo receivers only",
    )
    routing_rules: str = Field(
        default="",
        description="routing rules, '[<id>@]<merchant>:<currencies>:<method>=<provider>,...' "
        "separated by ';' (or the same as JSON; gateway_svc.domain.routing_config); empty: "
        "the built-in table",
    )
    reconciler_interval_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="seconds between reconciler passes over UNKNOWN and PENDING attempts",
    )
    reconciler_first_check_s: float = Field(
        default=5.0,
        gt=0,
        lt=60,
        description="age of an UNKNOWN payment at its first reconciler check; later checks"
        " follow at 1 min, 5 min, 1 h, then daily",
    )
    reconciler_not_found_grace_s: float | None = Field(
        default=None,
        ge=0,
        le=86400,
        description="how old an authorization must be before a provider's 'no such payment'"
        " fails it: the provider may still be working on a timed-out call, and a search index"
        " may lag writes (Stripe's by up to a minute); unset: as long as an attempt's calls"
        " can stay outstanding (3 tries of the slowest provider's timeouts plus backoff), and"
        " at least 300 when any provider is live",
    )
    idempotency_lock_timeout_s: float = Field(
        default=90.0,
        ge=1,
        le=3600,
        description="an idempotency key locked longer than this may be taken over by a retry",
    )
    idempotency_retention_h: float = Field(
        default=72.0, ge=24, le=24 * 30, description="hours idempotency keys are kept (>= 24)"
    )
    platform_fee_bps: int = Field(
        default=0, ge=0, le=10_000, description="platform fee on each capture, basis points"
    )
    platform_fee_fixed_minor: int = Field(
        default=0,
        ge=0,
        description="fixed platform fee on each capture, in minor units of its currency",
    )
    db_pool_size: int = Field(default=10, ge=1, le=200, description="database connection pool size")

    @model_validator(mode="after")
    def _internal_hops_are_safe(self) -> Self:
        # Plaintext to the ledger is as unsafe as plaintext serving: loopback only.
        if self.plaintext:
            for name in ("ledger_addr", "identity_addr"):
                addr = getattr(self, name)
                if not is_loopback_addr(addr):
                    raise ValueError(
                        f"{_ENV_PREFIX}PLAINTEXT=true is refused with {name.upper()}={addr!r}: "
                        "plaintext calls may only go to a loopback address"
                    )
        return self

    def providers(self) -> dict[str, ProviderSettings]:
        """Every provider's settings by its name ("stripe", ...), configured or not."""
        return {name: getattr(self, name) for name in PROVIDER_FIELDS}


PROVIDER_FIELDS = ("stripe", "authorizenet", "razorpay", "paypal")
"""The card providers: routing and the card adapter builder iterate these."""
NESTED_FIELDS = (*PROVIDER_FIELDS, "currencycloud")
"""Every nested provider model, each listed field by field in ``--help``."""


def gateway_settings_help() -> str:
    """Every environment variable: name, default and description, one row each.

    Like ``svc_kit.settings.settings_help``, plus one row per field of each nested provider
    model. Secrets show as ``**********`` (SecretStr's own rendering), never their value.
    """
    rows = [("VARIABLE", "DEFAULT", "DESCRIPTION")]
    for name, info in GatewaySettings.model_fields.items():
        if name in NESTED_FIELDS:
            rows.extend(_provider_rows(name))
        else:
            rows.append(
                (f"{_ENV_PREFIX}{name.upper()}", _shown(info.default), info.description or "")
            )
    width_name = max(len(row[0]) for row in rows)
    width_default = max(len(row[1]) for row in rows)
    return "\n".join(
        f"{env:<{width_name}}  {default:<{width_default}}  {text}".rstrip()
        for env, default, text in rows
    )


def _provider_rows(name: str) -> list[tuple[str, str, str]]:
    outer = GatewaySettings.model_fields[name]
    model = outer.annotation
    assert isinstance(model, type) and issubclass(model, ProviderSettings)
    label = outer.description or name
    return [
        (
            f"{_ENV_PREFIX}{name.upper()}{_NESTED}{field.upper()}",
            _shown(info.default),
            f"{label}: {info.description or ''}",
        )
        for field, info in model.model_fields.items()
    ]


def _shown(value: Any) -> str:
    if value is None:
        return "(unset)"  # a derived default, which the description explains
    if isinstance(value, SecretStr):
        return str(value)  # "**********"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(item) for item in value)  # the form the variable takes
    return '""' if value == "" else str(value)
