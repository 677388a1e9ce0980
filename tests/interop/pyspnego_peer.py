#!/usr/bin/env python3
"""Interop of sspi-emu's sans-IO NTLM client and server with pyspnego's pure-Python NTLM.

Usage: pyspnego_peer.py PEER

PEER is the `sspi-emu-ntlm-peer` binary (crates/testkit/src/bin/ntlm_peer.rs, which documents
its JSON line protocol). tests/interop_pyspnego.rs runs this script; it can also be run by hand:

    cargo build -p sspi-emu-testkit --bin sspi-emu-ntlm-peer
    python3 tests/interop/pyspnego_peer.py target/debug/sspi-emu-ntlm-peer

Cases (one "PASS <case>: ..." or "FAIL <case>: ..." line each, then a SUMMARY line; the exit
status is 1 if any case failed):

  a-client-to-pyspnego    our client -> pyspnego acceptor: NEGOTIATE / CHALLENGE / AUTHENTICATE,
                          pyspnego complete, same session key, then wrap/unwrap and sign/verify
                          both ways, and a tampered wrap token refused both ways
  b-pyspnego-to-server    pyspnego initiator -> our server: our server authenticates the account
                          (NTLMv2, MIC checked), then the same message exchange
  c1-wrong-password-client  our client with a wrong password: pyspnego's acceptor raises
  c2-wrong-password-server  pyspnego with a wrong password: our server refuses, SEC_E_LOGON_DENIED
  d1-tampered-mic-client  our AUTHENTICATE with one MIC bit flipped: pyspnego's acceptor raises
                          (so case a shows pyspnego checked our MIC)
  d2-tampered-mic-server  pyspnego's AUTHENTICATE with one MIC bit flipped: our server refuses
                          (MicMismatch, SEC_E_LOGON_DENIED)

pyspnego is forced onto its pure-Python NTLM (NegotiateOptions.use_ntlm), never GSSAPI/SSPI.
Its acceptor reads the account from the file named by NTLM_USER_FILE (DOMAIN:USER:PASSWORD);
the initiator's workstation is NETBIOS_COMPUTER_NAME and its level LM_COMPAT_LEVEL (3).
pyspnego draws its own challenges, session key and (as acceptor) timestamp: those are fresh
on each run; the Rust peer's are fixed.
"""

import json
import os
import subprocess
import sys
import tempfile
import traceback

DOMAIN = "SSPIEMU"
USER = "alice"
PASSWORD = "Interop-Passw0rd!"
WRONG_PASSWORD = "not-the-password"

MESSAGES = [b"hello from one side", b"\x00\x01\x02\xff" * 16, "d\u00e9j\u00e0 vu \u2713".encode("utf-8")]


class CaseFailed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise CaseFailed(what)


class Peer:
    """The Rust peer: one JSON request line in, one JSON answer line out."""

    def __init__(self, path):
        self.proc = subprocess.Popen(
            [path], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.log = []

    def call(self, **request):
        line = json.dumps(request)
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        if not answer:
            raise CaseFailed("the peer closed its stdout (exit status %s)" % self.proc.poll())
        self.log.append((line, answer.strip()))
        return json.loads(answer)

    def ok(self, **request):
        answer = self.call(**request)
        check(answer.get("ok") is True, "peer refused %s: %s" % (request.get("op"), answer))
        return answer

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=30)
        check(rc == 0, "the peer exited with status %d" % rc)


def tokens_note(tokens):
    return "; ".join("%s=%s" % (name, value.hex() if isinstance(value, bytes) else value) for name, value in tokens)


def exchange_messages(peer, ctx):
    """wrap/unwrap and sign/verify in both directions; returns a short description."""
    for msg in MESSAGES:
        # ours -> pyspnego, sealed
        token = bytes.fromhex(peer.ok(op="wrap", data=msg.hex())["token"])
        check(token[16:] != msg, "our wrap did not encrypt")
        got = ctx.unwrap(token)
        check(got.data == msg and got.encrypted, "pyspnego unwrap of our wrap token gave %r" % (got.data,))
        # pyspnego -> ours, sealed
        wrapped = ctx.wrap(msg, encrypt=True)
        check(wrapped.encrypted, "pyspnego did not encrypt")
        data = peer.ok(op="unwrap", token=wrapped.data.hex())["data"]
        check(bytes.fromhex(data) == msg, "our unwrap of pyspnego's wrap token gave %s" % data)
        # ours -> pyspnego, signed
        sig = bytes.fromhex(peer.ok(op="sign", data=msg.hex())["signature"])
        check(len(sig) == 16, "signature of %d bytes" % len(sig))
        ctx.verify(msg, sig)  # raises BadMICError on mismatch
        # pyspnego -> ours, signed
        sig = ctx.sign(msg)
        peer.ok(op="verify", data=msg.hex(), signature=sig.hex())

    # A tampered token is refused both ways (run last: it consumes a sequence number).
    token = bytearray(bytes.fromhex(peer.ok(op="wrap", data=MESSAGES[0].hex())["token"]))
    token[-1] ^= 0x01
    try:
        ctx.unwrap(bytes(token))
    except Exception as e:  # spnego.exceptions.BadMICError
        py_refused = type(e).__name__
    else:
        raise CaseFailed("pyspnego accepted a tampered wrap token")
    tampered = bytearray(ctx.wrap(MESSAGES[0]).data)
    tampered[-1] ^= 0x01
    answer = peer.call(op="unwrap", token=bytes(tampered).hex())
    check(answer.get("ok") is False, "our peer accepted a tampered wrap token: %s" % answer)
    return "%d messages wrap/unwrap + sign/verify each way; tampered token refused (pyspnego %s, ours %r)" % (
        len(MESSAGES),
        py_refused,
        answer.get("error"),
    )


MIC_OFFSET = 72  # AUTHENTICATE_MESSAGE.MIC (MS-NLMP 2.2.1.3, with Version present)


def flip_mic(authenticate):
    """The AUTHENTICATE_MESSAGE with one bit of its MIC flipped (the MIC must be there)."""
    check(len(authenticate) > MIC_OFFSET + 16, "AUTHENTICATE too short for a MIC")
    check(authenticate[MIC_OFFSET : MIC_OFFSET + 16] != bytes(16), "no MIC in the AUTHENTICATE_MESSAGE")
    tampered = bytearray(authenticate)
    tampered[MIC_OFFSET] ^= 0x01
    return bytes(tampered)


def case_client_to_pyspnego(spnego, peer_path, password=PASSWORD, tamper_mic=False):
    peer = Peer(peer_path)
    tokens = []
    try:
        negotiate = bytes.fromhex(peer.ok(op="client", user=USER, domain=DOMAIN, password=password)["token"])
        tokens.append(("NEGOTIATE", negotiate))
        server = spnego.server(protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm)
        challenge = server.step(negotiate)
        tokens.append(("CHALLENGE", challenge))
        check(challenge is not None, "pyspnego gave no CHALLENGE")
        session = peer.ok(op="token", token=challenge.hex())
        authenticate = bytes.fromhex(session["token"])
        tokens.append(("AUTHENTICATE", authenticate))
        check(session.get("complete") is True, "our client is not complete: %s" % session)
        if tamper_mic:
            authenticate = flip_mic(authenticate)
        try:
            out = server.step(authenticate)
        except Exception as e:
            if password != PASSWORD or tamper_mic:
                check(not server.complete, "pyspnego raised but reports complete")
                expected = "Invalid MIC in NTLM" if tamper_mic else "Invalid NTLM response from initiator"
                check(expected in str(e), "pyspnego raised %s: %s, expected %r" % (type(e).__name__, e, expected))
                peer.close()
                return "pyspnego refused: %s: %s" % (type(e).__name__, e)
            raise CaseFailed(
                "pyspnego refused our AUTHENTICATE: %s: %s [%s]" % (type(e).__name__, e, tokens_note(tokens))
            )
        check(password == PASSWORD, "pyspnego accepted a wrong password")
        check(not tamper_mic, "pyspnego accepted a tampered MIC")
        check(out is None, "pyspnego answered the AUTHENTICATE with a token")
        check(server.complete, "pyspnego not complete")
        check(
            server.session_key.hex() == session["session_key"],
            "session keys differ: pyspnego %s, ours %s" % (server.session_key.hex(), session["session_key"]),
        )
        check(server.client_principal == "%s\\%s" % (DOMAIN, USER), "client_principal %r" % server.client_principal)
        check(session["kind"] == "Ntlmv2" and session["mic"] is True, "kind/mic %s" % session)
        detail = exchange_messages(peer, server)
        peer.close()
        return "handshake complete (flags %s, principal %s, MIC sent); %s" % (
            session["flags"],
            server.client_principal,
            detail,
        )
    except CaseFailed as e:
        raise CaseFailed("%s [%s]" % (e, tokens_note(tokens)))


def case_pyspnego_to_server(spnego, peer_path, password=PASSWORD, tamper_mic=False):
    peer = Peer(peer_path)
    tokens = []
    try:
        peer.ok(op="server", user=USER, domain=DOMAIN, password=PASSWORD)
        client = spnego.client(
            "%s\\%s" % (DOMAIN, USER),
            password,
            hostname="sspiemu-srv",
            service="host",
            protocol="ntlm",
            options=spnego.NegotiateOptions.use_ntlm,
        )
        negotiate = client.step()
        tokens.append(("NEGOTIATE", negotiate))
        challenge = bytes.fromhex(peer.ok(op="token", token=negotiate.hex())["token"])
        tokens.append(("CHALLENGE", challenge))
        authenticate = client.step(challenge)
        tokens.append(("AUTHENTICATE", authenticate))
        check(client.complete, "pyspnego client not complete after AUTHENTICATE")
        if tamper_mic:
            authenticate = flip_mic(authenticate)
        answer = peer.call(op="token", token=authenticate.hex())
        if tamper_mic:
            check(answer.get("ok") is False, "our server accepted a tampered MIC: %s" % answer)
            check(answer.get("status") == "SEC_E_LOGON_DENIED", "status %s" % answer)
            check(answer.get("error") == "the MIC does not match the messages", "error %s" % answer)
            peer.close()
            return "our server refused: %s (%s), %r" % (answer["status"], answer["status_code"], answer["error"])
        if password != PASSWORD:
            check(answer.get("ok") is False, "our server accepted a wrong password: %s" % answer)
            check(
                answer.get("status") == "SEC_E_LOGON_DENIED" and answer.get("status_code") == "0x8009030c",
                "status %s" % answer,
            )
            check(answer.get("error") == "the response does not match the password", "error %s" % answer)
            # The handshake is over: another AUTHENTICATE is not accepted.
            check(peer.call(op="token", token=authenticate.hex()).get("ok") is False, "failed handshake continued")
            peer.close()
            return "our server refused: %s (%s), %r" % (answer["status"], answer["status_code"], answer["error"])
        check(answer.get("ok") is True, "our server refused pyspnego's AUTHENTICATE: %s" % answer)
        check(answer.get("complete") is True, "our server not complete")
        check(answer["user"] == USER and answer["domain"] == DOMAIN, "authenticated %s" % answer)
        check(answer["workstation"] == os.environ["NETBIOS_COMPUTER_NAME"], "workstation %s" % answer)
        check(answer["kind"] == "Ntlmv2", "kind %s" % answer["kind"])
        check(answer["mic"] is True, "pyspnego's MIC was not present/checked")
        check(
            client.session_key.hex() == answer["session_key"],
            "session keys differ: pyspnego %s, ours %s" % (client.session_key.hex(), answer["session_key"]),
        )
        detail = exchange_messages(peer, client)
        peer.close()
        return "our server authenticated %s\\%s (NTLMv2, MIC verified, flags %s); %s" % (
            answer["domain"],
            answer["user"],
            answer["flags"],
            detail,
        )
    except CaseFailed as e:
        raise CaseFailed("%s [%s]" % (e, tokens_note(tokens)))


def main(argv):
    if len(argv) != 2:
        print("usage: %s PEER" % argv[0], file=sys.stderr)
        return 2
    peer_path = argv[1]
    try:
        import spnego
    except ImportError as e:
        print("FAIL import: pyspnego is not importable: %s" % e)
        return 1
    try:
        from importlib.metadata import version

        print("pyspnego %s (pure-Python NTLM)" % version("pyspnego"))
    except Exception:
        pass

    with tempfile.TemporaryDirectory() as tmp:
        user_file = os.path.join(tmp, "ntlm_users")
        with open(user_file, "w") as fd:
            fd.write("%s:%s:%s\n" % (DOMAIN, USER, PASSWORD))
        os.environ["NTLM_USER_FILE"] = user_file
        os.environ["NETBIOS_COMPUTER_NAME"] = "PYCLIENT"
        os.environ["LM_COMPAT_LEVEL"] = "3"

        cases = [
            ("a-client-to-pyspnego", lambda: case_client_to_pyspnego(spnego, peer_path)),
            ("b-pyspnego-to-server", lambda: case_pyspnego_to_server(spnego, peer_path)),
            ("c1-wrong-password-client", lambda: case_client_to_pyspnego(spnego, peer_path, WRONG_PASSWORD)),
            ("c2-wrong-password-server", lambda: case_pyspnego_to_server(spnego, peer_path, WRONG_PASSWORD)),
            ("d1-tampered-mic-client", lambda: case_client_to_pyspnego(spnego, peer_path, tamper_mic=True)),
            ("d2-tampered-mic-server", lambda: case_pyspnego_to_server(spnego, peer_path, tamper_mic=True)),
        ]
        failed = 0
        for name, run in cases:
            try:
                print("PASS %s: %s" % (name, run()))
            except CaseFailed as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
            except Exception as e:
                failed += 1
                print("FAIL %s: %s: %s" % (name, type(e).__name__, e))
                traceback.print_exc()
            sys.stdout.flush()
    print("SUMMARY: %d passed, %d failed" % (len(cases) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
