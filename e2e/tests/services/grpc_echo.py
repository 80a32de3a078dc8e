"""A gRPC service and client for the gateway's tests (Python's grpcio, installed by
scripts/grpcio.sh), run as their own processes. Messages are raw bytes (no protobuf), so
nothing is generated: the framing, HTTP/2 and trailers are gRPC's own.

  grpc_echo.py serve
      Serves hopgate.test.Echo on 127.0.0.1 (h2c) and prints `listening PORT`:
        Unary         b"echo:" + the request; trailing metadata x-served-by: grpc_echo
        ServerStream  the request is a count N: N replies b"reply I"
        ClientStream  one reply: b"N messages, M bytes"
        Bidi          each message upper-cased, as it arrives
        Slow          answers after 5 s (for deadlines)
        Fail          INVALID_ARGUMENT, message "bad argument: ünïcode", and
                      grpc-status-details-bin (binary) in the trailing metadata

  grpc_echo.py call --address HOST:PORT --authority NAME --ca PEM SCENARIO...
      Calls the service through the gateway over TLS (SNI and :authority NAME, trusting
      PEM), one call per scenario (unary, server_stream, client_stream, bidi, deadline,
      fail), and prints one JSON object: scenario -> {code, details, replies, trailers,
      seconds}; binary values are hex.
"""

import argparse
import collections
import json
import queue
import sys
import time
from concurrent import futures

import grpc

SERVICE = "hopgate.test.Echo"
DETAILS_BIN = bytes([0x08, 0x03, 0x12, 0x00, 0xFF, 0x0A]) + "ü".encode()


class Status(
    collections.namedtuple("Status", ("code", "details", "trailing_metadata")), grpc.Status
):
    pass


def unary(request, context):
    context.set_trailing_metadata((("x-served-by", "grpc_echo"),))
    return b"echo:" + request


def server_stream(request, context):
    for i in range(int(request)):
        yield b"reply %d" % i


def client_stream(requests, context):
    count = size = 0
    for message in requests:
        count += 1
        size += len(message)
    return b"%d messages, %d bytes" % (count, size)


def bidi(requests, context):
    for message in requests:
        yield message.upper()


def slow(request, context):
    time.sleep(5)
    return b"too late"


def fail(request, context):
    context.abort_with_status(
        Status(
            grpc.StatusCode.INVALID_ARGUMENT,
            "bad argument: ünïcode",
            (("grpc-status-details-bin", DETAILS_BIN),),
        )
    )


def serve():
    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening", port, flush=True)
    server.wait_for_termination()


def printable(metadata):
    return {
        key: value.hex() if key.endswith("-bin") else value for key, value in (metadata or ())
    }


def bidi_in_turns(channel):
    """Sends the next message only once the reply to the last one came: it passes only if
    both directions stream (nothing is held back until the other side ends)."""
    replies = queue.Queue()

    def requests():
        for word in (b"one", b"two", b"three"):
            yield word
            replies.get(timeout=5)

    call = channel.stream_stream(f"/{SERVICE}/Bidi")(requests(), timeout=10)
    out = []
    for reply in call:
        out.append(reply)
        replies.put(reply)
    return call, out


def unary_call(channel, name, request, timeout):
    reply, rpc = channel.unary_unary(f"/{SERVICE}/{name}").with_call(request, timeout=timeout)
    return rpc, [reply]


def call(channel, scenario):
    """One call: the finished call and its replies (an error status raises)."""
    if scenario == "unary":
        return unary_call(channel, "Unary", b"hello", 10)
    if scenario == "server_stream":
        rpc = channel.unary_stream(f"/{SERVICE}/ServerStream")(b"3", timeout=10)
        return rpc, list(rpc)
    if scenario == "client_stream":
        messages = iter([b"a", b"bb", b"ccc", b"dddd"])
        stream = channel.stream_unary(f"/{SERVICE}/ClientStream")
        reply, rpc = stream.with_call(messages, timeout=10)
        return rpc, [reply]
    if scenario == "bidi":
        return bidi_in_turns(channel)
    if scenario == "deadline":
        return unary_call(channel, "Slow", b"", 0.5)
    if scenario == "fail":
        return unary_call(channel, "Fail", b"", 10)
    raise SystemExit(f"unknown scenario {scenario}")


def outcome(channel, scenario):
    started = time.monotonic()
    try:
        rpc, replies = call(channel, scenario)
        code, details, trailers = rpc.code(), rpc.details(), rpc.trailing_metadata()
    except grpc.RpcError as err:
        replies = []
        code, details, trailers = err.code(), err.details(), err.trailing_metadata()
    return {
        "code": code.name,
        "details": details,
        "replies": [r.decode("utf-8", "replace") for r in replies],
        "trailers": printable(trailers),
        "seconds": round(time.monotonic() - started, 3),
    }


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve")
    caller = sub.add_parser("call")
    caller.add_argument("--address", required=True)
    caller.add_argument("--authority", required=True)
    caller.add_argument("--ca", required=True)
    caller.add_argument("scenarios", nargs="+")
    args = parser.parse_args()
    if args.command == "serve":
        return serve()
    with open(args.ca, "rb") as pem:
        credentials = grpc.ssl_channel_credentials(root_certificates=pem.read())
    options = (
        ("grpc.ssl_target_name_override", args.authority),
        ("grpc.default_authority", args.authority),
    )
    with grpc.secure_channel(args.address, credentials, options) as channel:
        results = {scenario: outcome(channel, scenario) for scenario in args.scenarios}
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
