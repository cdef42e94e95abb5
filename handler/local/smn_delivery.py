"""A local SMN: sign a message as an SMN topic would and deliver it to the Function URL edge.

`sdrs-cleanup smn-deliver MESSAGE_FILE --emulator` makes a throwaway RSA key and certificate,
pins the certificate (SDRS_SMN_SIGNING_CERTS, so nothing is downloaded), signs an SMN
Notification holding the file's text with SMN's string to sign, wraps it in a Function URL
request (payload format 2.0) and hands it to `handler.app.lambda_handler`: the whole path a
real delivery takes, verification included.
"""

from __future__ import annotations

import base64
import datetime
import json
import uuid
from typing import Any

LOCAL_TOPIC_URN = "urn:smn:cn-north-4:0123456789abcdef0123456789abcdef:sdrs-cleanup-local"
# Never fetched (the certificate is pinned), but it must be an SMN host all the same.
LOCAL_CERT_URL = "https://smn.cn-north-4.myhuaweicloud.com/smn/SMN_cn-north-4_" + "0" * 32 + ".pem"


def signing_identity() -> tuple[Any, str]:
    """A fresh RSA key and a self-signed certificate for it (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sdrs-cleanup local SMN")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM).decode()


def signed_notification(key: Any, message: str, topic_urn: str = LOCAL_TOPIC_URN) -> dict[str, Any]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    from handler.smn import string_to_sign

    body: dict[str, Any] = {
        "type": "Notification",
        "topic_urn": topic_urn,
        "message_id": uuid.uuid4().hex,
        "message": message,
        "subject": "sdrs-cleanup local delivery",
        "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "signature_version": "v1",
        "signing_cert_url": LOCAL_CERT_URL,
    }
    signature = key.sign(string_to_sign(body), padding.PKCS1v15(), hashes.SHA256())
    return {**body, "signature": base64.b64encode(signature).decode()}


def function_url_event(body: dict[str, Any]) -> dict[str, Any]:
    """A Function URL request as Lambda hands it over (the shape of Powertools'
    tests/events/lambdaFunctionUrlEvent.json), POSTed with SMN's headers."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "text/plain; charset=UTF-8",
            "x-smn-message-type": body["type"],
            "x-smn-message-id": body["message_id"],
            "x-smn-topic-urn": body["topic_urn"],
            "host": "local.lambda-url.cn-north-4.on.aws",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": "local.lambda-url.cn-north-4.on.aws",
            "domainPrefix": "local",
            "http": {
                "method": "POST",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "SMN",
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": "$default",
            "stage": "$default",
            "time": datetime.datetime.now(datetime.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(datetime.datetime.now(datetime.UTC).timestamp() * 1000),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
