"""A stand-in EC2 Query API for the aws_ec2 check tests (no real AWS is reachable here).

It answers DescribeInstances (InstanceId.N, Filter.N.Name/Value.M, NextToken; two instances a
page) from the instances given on the command line (id, state, tags; type and az when given), and
checks every request's SigV4 signature with botocore's own signer, independently of the agent's: a
request whose signature botocore does not reproduce gets EC2's AuthFailure. Run with Debian's python3 and python3-botocore:

    /usr/bin/python3 ec2-server.py ACCESS_KEY SECRET_KEY REGION INSTANCES_JSON

It listens on 127.0.0.1, an ephemeral port, printed as the first line of its output.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS_KEY, SECRET_KEY, REGION, INSTANCES = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
PAGE = 2
LOG = []


def signature_ok(handler, body):
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return False
    fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    signed = fields["SignedHeaders"].split(";")
    if fields["Credential"].split("/")[0] != ACCESS_KEY:
        return False
    headers = {name: handler.headers[name] for name in signed}
    request = AWSRequest(method=handler.command, url="http://%s%s" % (handler.headers["Host"], handler.path),
                         data=body, headers=headers)
    request.context["timestamp"] = handler.headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, handler.headers.get("X-Amz-Security-Token")), "ec2", REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return expected == fields["Signature"]


def matches(instance, ids, filters):
    if ids and instance["id"] not in ids:
        return False
    for name, values in filters.items():
        if name == "instance-state-name":
            if instance["state"] not in values:
                return False
        elif name.startswith("tag:"):
            if instance.get("tags", {}).get(name[4:]) not in values:
                return False
        else:
            return False
    return True


def item(instance):
    tags = "".join("<item><key>%s</key><value>%s</value></item>" % (escape(k), escape(v))
                   for k, v in instance.get("tags", {}).items())
    kind = "<instanceType>%s</instanceType>" % escape(instance["type"]) if "type" in instance else ""
    zone = ("<placement><availabilityZone>%s</availabilityZone><tenancy>default</tenancy></placement>"
            % escape(instance["az"]) if "az" in instance else "")
    return ("<item><reservationId>r-%s</reservationId><instancesSet><item><instanceId>%s</instanceId>"
            "<instanceState><code>16</code><name>%s</name></instanceState>%s%s<tagSet>%s</tagSet></item>"
            "</instancesSet></item>") % (instance["id"], instance["id"], instance["state"], kind, zone, tags)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not signature_ok(self, body):
            return self.reply(401, "<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to "
                                   "validate the provided access credentials</Message></Error></Errors></Response>")
        form = dict(parse_qsl(body.decode()))
        if form.get("Action") != "DescribeInstances":
            return self.reply(400, "<Response><Errors><Error><Code>InvalidAction</Code><Message>%s</Message>"
                                   "</Error></Errors></Response>" % escape(form.get("Action", "")))
        ids = [value for key, value in form.items() if key.startswith("InstanceId.")]
        filters = {}
        for key, value in form.items():
            if key.startswith("Filter.") and key.endswith(".Name"):
                number = key.split(".")[1]
                filters[value] = [v for k, v in form.items() if k.startswith("Filter.%s.Value." % number)]
        found = [instance for instance in INSTANCES if matches(instance, ids, filters)]
        start = int(form.get("NextToken", "0"))
        page = found[start:start + PAGE]
        token = "<nextToken>%d</nextToken>" % (start + PAGE) if start + PAGE < len(found) else ""
        print(json.dumps({"ids": ids, "filters": filters, "next": form.get("NextToken")}), flush=True)
        self.reply(200, '<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse '
                        'xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>x</requestId><reservationSet>%s'
                        '</reservationSet>%s</DescribeInstancesResponse>' % ("".join(item(i) for i in page), token))


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
