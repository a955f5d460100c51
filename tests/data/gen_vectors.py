#!/usr/bin/env python3
"""Turns llhttp_vectors.json into a file test_http_parser.c can read without a JSON parser.

For every HTTP vector of type request, response, request-finish or response-finish it writes
the raw input and the transcript eddy's parser must reproduce: completed items (method, target,
reason phrase, header fields, body) in order, then "complete" per message, "error" when llhttp
rejects, "upgrade N" when it stops at an upgrade. The C test builds the same transcript from the
parser's callbacks, so the comparison is one string compare per run.

Repair: the conversion from llhttp's markdown lost the final CRLF of many inputs (their logs
have offsets past the end) and encoded three non-ASCII inputs as Latin-1 where llhttp fed
UTF-8.
Both are restored, and only when every span in the log then matches the input bytes exactly.

Usage: gen_vectors.py llhttp_vectors.json out.txt
"""
import base64
import json
import re
import sys

TYPES = ("request", "response", "request-finish", "response-finish")
LINE = re.compile(r"^off=(\d+|NULL) (.*)$")
SPAN = re.compile(r'^len=(\d+) span\[([a-z_.]+)\]=(?:"(.*)"|(cr|lf))$', re.S)


def esc(b):
    out = []
    for c in b:
        if 0x20 <= c < 0x7F and c != 0x5C:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


def spans(log):
    for line in log:
        m = LINE.match(line)
        if not m or m.group(1) == "NULL":
            continue
        s = SPAN.match(m.group(2))
        if s:
            # A lone CR or LF is logged bare.
            text = s.group(3) if s.group(4) is None else {"cr": "\\r", "lf": "\\n"}[s.group(4)]
            yield int(m.group(1)), int(s.group(1)), s.group(2), text


def logged(piece):
    """A span as llhttp's test log prints it: raw, except for a few C escapes."""
    for raw, shown in ((b"\t", b"\\t"), (b"\f", b"\\f"), (b"\r", b"\\r"), (b"\n", b"\\n")):
        piece = piece.replace(raw, shown)
    return piece


def consistent(data, log):
    for off, n, _kind, text in spans(log):
        if off + n > len(data):
            return False
        piece = logged(data[off:off + n])
        if piece != text.encode("utf-8") and piece != text.encode("latin-1", "replace"):
            return False
    for line in log:
        m = LINE.match(line)
        if not m or m.group(1) == "NULL":
            continue
        off = int(m.group(1))
        if off > len(data):
            return False
        # A rejection points at the byte at fault, so that byte was there.
        if off == len(data) and m.group(2).startswith("error") and not truncated_ok(m.group(2)):
            return False
    return True


def truncated_ok(error):
    """Errors llhttp raises after the last byte it read rather than at a byte: pauses (22, 23),
    a bad version number (9), a request Transfer-Encoding judged at the end of the head (15)."""
    return error.startswith(("error code=22 ", "error code=23 ", "error code=9 ", "error code=15 "))


def repair(data, log):
    """The input llhttp was fed, or None if no candidate matches its log."""
    utf8 = data.decode("latin-1").encode("utf-8")
    for cand in (data, data + b"\r\n", utf8, utf8 + b"\r\n"):
        if consistent(cand, log):
            return cand
    return None


def transcript(data, log, response):
    done = []     # lines of finished messages
    cur = []      # lines of the message in progress
    acc = {}      # span kind -> bytes so far
    body = bytearray()
    field = b""
    in_body = False

    def take(kind):
        return acc.pop(kind, b"")

    for line in log:
        m = LINE.match(line)
        if not m:
            continue
        off, ev = m.group(1), m.group(2)
        s = SPAN.match(ev)
        if s:
            n, kind = int(s.group(1)), s.group(2)
            piece = data[int(off):int(off) + n]
            if kind == "body":
                body += piece
            else:
                acc[kind] = acc.get(kind, b"") + piece
        elif ev == "message begin":
            in_body = False
        elif ev == "method complete":
            cur.append("method " + esc(take("method")))
        elif ev == "url complete":
            cur.append("url " + esc(take("url")))
        elif ev == "status complete":
            cur.append("reason " + esc(take("status")))
        elif ev == "header_field complete":
            field = take("header_field")
        elif ev == "header_value complete":
            kind = "trailer " if in_body else "header "
            cur.append(kind + esc(field) + ": " + esc(take("header_value")))
        elif ev.startswith("headers complete"):
            h = dict(kv.split("=", 1) for kv in ev.split()[2:])
            major, minor = h["v"].split("/")
            line_ = "headers v=%s.%s cl=%s" % (major, minor, h["content_length"])
            if response:
                line_ += " status=" + h["status"]
            cur.append(line_)
            in_body = True
        elif ev == "message complete":
            if body:
                cur.append("body " + esc(bytes(body)))
            done += cur + ["complete"]
            cur, body, acc = [], bytearray(), {}
        elif ev.startswith("error code="):
            code = int(ev.split()[1].split("=")[1])
            if code == 22:  # HPE_PAUSED_UPGRADE: the connection leaves HTTP here
                done += cur + ["upgrade " + off]
            else:
                done += ["error"]
            return done
        elif ev.startswith("finish="):
            done += cur
            cur = []
            if body:
                done.append("body " + esc(bytes(body)))
                body = bytearray()
            done.append("finish " + ev.split("=")[1])
    if body:
        cur.append("body " + esc(bytes(body)))
    return done + cur


def main():
    vectors = json.load(open(sys.argv[1], encoding="utf-8"))
    out = []
    skipped = 0
    for v in vectors:
        kind = v["meta"].get("type")
        if v["kind"] != "http" or kind not in TYPES:
            continue
        raw = base64.b64decode(v["input_b64"])
        data = repair(raw, v["expected_log"])
        if data is None:
            skipped += 1
            print("gen_vectors: cannot repair %r" % v["name"], file=sys.stderr)
            continue
        response = kind.startswith("response")
        expect = "\n".join(transcript(data, v["expected_log"], response)) + "\n"
        expect = expect.encode()
        name = (v["name"] + " (" + v["file"] + ":" + str(v["line"]) + ")").encode()
        out.append(b"vector %d\n%s\n" % (len(name), name))
        out.append(b"type %s\n" % kind.encode())
        out.append(b"noscan %d\n" % (1 if v["meta"].get("noScan") else 0))
        out.append(b"skipbody %d\n" % (1 if v["meta"].get("skipBody") else 0))
        out.append(b"input %d\n%s\n" % (len(data), data))
        out.append(b"expect %d\n%s\n" % (len(expect), expect))
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(out))
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
