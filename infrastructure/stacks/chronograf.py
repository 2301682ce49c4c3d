"""chronograf: Chronograf at /chronograf behind the load balancer, connected to InfluxDB as the reader, so
nobody can write, drop or administer anything through it, and only with a login.

Chronograf 1.x has no password login of its own, only OAuth; without it anyone who reaches /chronograf reads every
series and can change Chronograf's own stored sources and dashboards. So this stack cannot be deployed without an
OAuth provider (its parameters have no defaults), and `deploy --all` leaves it out: Grafana, which has a login,
shows the dashboards. docs/deploying.md says how to give it one (any OpenID Connect provider: Cognito, Google,
GitHub, Okta, ...).
"""

from __future__ import annotations

from typing import Any

from troposphere import Ref, Template

from infrastructure.common import add_string_parameter
from infrastructure.registry import StackDefinition
from infrastructure.stacks import cluster, edge, influxdb, network, storage
from infrastructure.web_service import build_web_service, reader_secret

NAME = "chronograf"
OAUTH_SECRET_NAME = "${EnvironmentName}/chronograf/oauth"  # as services/chronograf/task.yaml names it
LEFT_OUT = (
    "Chronograf needs an OAuth login before it may be reachable; deploy it by name with the OAuth* parameters "
    "(docs/deploying.md, 'Chronograf only with a login')"
)
HTTPS_URL = r"^https://[^\s]+$"


OAUTH_DOMAINS = r"^[a-z0-9-]+(\.[a-z0-9-]+)+(,[a-z0-9-]+(\.[a-z0-9-]+)+)*$"


def create_login_parameters(template: Template) -> dict[str, Any]:
    """The OAuth provider's endpoints and the secret with its client's credentials: no defaults, so no
    Chronograf without a login."""
    add_string_parameter(
        template,
        "OAuthSecretArn",
        "Secrets Manager secret, JSON client_id, client_secret and token_secret (a random string that signs "
        "Chronograf's session tokens)",
        pattern=r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$",
    )
    for name, description in (
        ("OAuthAuthUrl", "the provider's authorization endpoint"),
        ("OAuthTokenUrl", "the provider's token endpoint"),
        ("OAuthApiUrl", "the provider's user-info endpoint"),
    ):
        add_string_parameter(template, name, f"{description} (https)", pattern=HTTPS_URL)
    # Required: an empty list would let in anyone the provider signs in (a public provider signs in anyone).
    add_string_parameter(
        template,
        "OAuthDomains",
        "Only users whose e-mail is in these comma-separated domains may sign in (required)",
        pattern=OAUTH_DOMAINS,
        constraint="one or more e-mail domains, comma-separated (example.com,example.org)",
    )
    return {OAUTH_SECRET_NAME: Ref("OAuthSecretArn")}


def build() -> Template:
    return build_web_service(
        NAME,
        "Chronograf at /chronograf behind an OAuth login, reading InfluxDB as the reader user",
        priority=20,
        secret_arns=reader_secret(),
        substitutions={
            "PublicDomain": edge.DISTRIBUTION_DOMAIN.imported(),
            "InfluxdbUrl": influxdb.URL.imported(),  # the store's one URL export, whichever store it is
            "StoreOrganization": influxdb.ORGANIZATION,
            "InfluxdbCaCertificate": influxdb.CA_CERTIFICATE.imported(),  # Chronograf verifies the store with it
        },
        prepare=create_login_parameters,
    )


STACK = StackDefinition(
    name=NAME,
    build=build,
    depends_on=(network.NAME, cluster.NAME, storage.NAME, edge.NAME, influxdb.NAME),
    left_out=LEFT_OUT,
)
