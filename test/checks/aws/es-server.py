"""A stand-in Amazon OpenSearch Service (Elasticsearch Service) domain for the elasticsearch check's
SigV4 tests (no real AWS is reachable here).

It answers GET /_cluster/health with the health given on the command line, only to a request whose
SigV4 signature (service `es`, the region given) botocore's own signer reproduces, independently
of the agent's signer; any other request gets the 403 and the message AWS answers. With a session
token, a request must carry it (X-Amz-Security-Token, signed). Run with Debian's python3 and
python3-botocore:

    /usr/bin/python3 es-server.py ACCESS_KEY SECRET_KEY REGION HEALTH_JSON [SESSION_TOKEN]

It listens on 127.0.0.1, an ephemeral port, printed as the first line of its output; then one JSON
line per request: its path, whether the signature held, and the headers it signed.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY, REGION, HEALTH = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
SESSION_TOKEN = sys.argv[5] if len(sys.argv) > 5 else None
SERVICE = "es"
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")


def verdict(handler):
    """None when the signature holds, else AWS's message; and the signed headers."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "Missing Authentication Token", []
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    signed = fields["SignedHeaders"].split(";")
    scope = fields["Credential"].split("/")
    if scope[0] != ACCESS_KEY:
        return "The security token included in the request is invalid.", signed
    if SESSION_TOKEN is not None and (handler.headers.get("X-Amz-Security-Token") != SESSION_TOKEN
                                      or "x-amz-security-token" not in signed):
        return "The security token included in the request is invalid.", signed
    if "host" not in signed or "x-amz-date" not in signed:
        return MISMATCH, signed
    headers = {name: handler.headers[name] for name in signed}
    request = AWSRequest(method=handler.command, url="http://%s%s" % (handler.headers["Host"], handler.path),
                         data=b"", headers=headers)
    request.context["timestamp"] = handler.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, SESSION_TOKEN), SERVICE, REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return (None if expected == fields["Signature"] else MISMATCH), signed


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        refused, signed = verdict(self)
        print(json.dumps({"path": self.path, "verified": refused is None, "signed": signed}), flush=True)
        if refused is not None:
            return self.reply(403, json.dumps({"message": refused}))
        if self.path != "/_cluster/health":
            return self.reply(404, json.dumps({"error": "no handler found for uri [%s]" % self.path}))
        self.reply(200, HEALTH)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
