"""Drives `ca serve` with certsrv, the Python client for Microsoft's AD CS Web Enrollment
pages (https://github.com/magnuswatn/certsrv), as scripts written for AD CS use it.

Usage: adcs_client.py HOST:PORT ROOT_PEM CSR_PEM [pending]   (run by tests/adcs.rs; with
`pending`, against a CA that leaves web requests to an administrator)
Prints one line per check, `ok NAME` or `FAIL NAME: why`, and exits 1 if any failed.
"""
import sys

import certsrv

server, root, csr_file = sys.argv[1:4]
csr = open(csr_file).read()
failed = False


def check(name, condition, why=""):
    global failed
    print(("ok " if condition else "FAIL ") + name + ("" if condition else ": " + why))
    failed = failed or not condition


alice = certsrv.Certsrv(server, "alice", "alice password", cafile=root)

if sys.argv[4:] == ["pending"]:
    try:
        alice.get_cert(csr, "WebServer")
        check("a request waits for an administrator", False, "no exception")
    except certsrv.CertificatePendingException as err:
        check("a request waits for an administrator", err.req_id.isdigit(), str(err))
        try:
            alice.get_existing_cert(err.req_id)
            check("a pending certificate cannot be retrieved yet", False, "no exception")
        except certsrv.CouldNotRetrieveCertificateException as pending:
            check(
                "a pending certificate is Taken Under Submission",
                str(pending) == "Taken Under Submission",
                str(pending),
            )
        print("pending id " + err.req_id)
    sys.exit(1 if failed else 0)

wrong = certsrv.Certsrv(server, "alice", "wrong password", cafile=root)
check("check_credentials accepts the right password", alice.check_credentials())
check("check_credentials refuses a wrong one", not wrong.check_credentials())

ca = alice.get_ca_cert(encoding="b64")
check("get_ca_cert", ca.startswith(b"-----BEGIN CERTIFICATE-----"), repr(ca[:40]))
chain = alice.get_chain(encoding="bin")
check("get_chain", chain[:1] == b"\x30", repr(chain[:10]))

cert = alice.get_cert(csr, "WebServer")
check("get_cert issues", cert.startswith(b"-----BEGIN CERTIFICATE-----"), repr(cert[:40]))

try:
    alice.get_cert(csr, "NoSuchTemplate")
    check("an unknown template is denied", False, "no exception")
except certsrv.RequestDeniedException as err:
    message = str(err)
    check(
        "an unknown template is denied with AD CS's code and our reason",
        message.startswith("Denied by Policy Module  0x80094800, ")
        and "NoSuchTemplate" in message,
        message,
    )

try:
    alice.get_existing_cert("999999")
    check("an unknown id cannot be retrieved", False, "no exception")
except certsrv.CouldNotRetrieveCertificateException as err:
    check(
        "an unknown id says the property is empty",
        str(err).startswith("The requested property value is empty. 0x80094004"),
        str(err),
    )

sys.exit(1 if failed else 0)
