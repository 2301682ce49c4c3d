"""The sandbox's certificate authority, as IoT Core's registry knows a customer CA: it signs the local IoT
endpoint's server certificate and the devices' (`simulator provision --target local`), and local influxd's.

On AWS a device certificate is issued by Amazon's CA (CreateCertificateFromCsr) or by the account's own CA,
registered with RegisterCACertificate, whose device certificates are registered with RegisterCertificate.
Locally the second flow is played. The code is the project's one CA module (infrastructure/certificate_authority.py),
which the deploy tool also uses for InfluxDB's certificate on AWS.
"""

from infrastructure.certificate_authority import CA_NAME, SERVER_IPS, SERVER_NAMES, LocalCa, key_pem, new_key

__all__ = ["CA_NAME", "SERVER_IPS", "SERVER_NAMES", "LocalCa", "key_pem", "new_key"]
