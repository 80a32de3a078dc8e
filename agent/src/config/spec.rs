//! The agent's command line, variables and file keys, as one table for `hopgate-settings`:
//! `hopgate-agent http <TARGET> --domain D --key K --server HOST:PORT`, or
//! `hopgate-agent --config agent.toml` for the tunnels a file lists.

use hopgate_settings::{Array, Setting, Spec, Subcommand};

/// Every setting: file key, variable, help. `tunnel.…` are the fields of a `[[tunnel]]`.
const SETTINGS: &[Setting] = &[
    Setting::value(
        "server_addr",
        "HOP_CLIENT_SERVER_ADDR",
        "The gateway's data-plane address, host:port (UDP)",
    )
    .flag("server")
    .value_name("HOST:PORT"),
    Setting::value(
        "transport",
        "HOP_CLIENT_TRANSPORT",
        "What carries the session: udp (DTLS), tcp (TLS to the gateway's HTTPS port, where UDP \
         is blocked), or auto (udp, then tcp if udp doesn't answer) [default: auto]",
    )
    .flag("transport")
    .value_name("MODE"),
    Setting::value(
        "tcp_server_addr",
        "HOP_CLIENT_TCP_SERVER_ADDR",
        "The gateway's HTTPS address for the tcp transport, host:port [default: --server]",
    )
    .flag("tcp-server")
    .value_name("HOST:PORT"),
    Setting::value(
        "local_ip",
        "HOP_CLIENT_LOCAL_IP",
        "The local IP address the sessions to the gateway leave from, e.g. one interface of \
         a multi-homed host [default: the one the system's routes pick]",
    )
    .flag("local-ip")
    .value_name("IP"),
    Setting::value(
        "udp_timeout_ms",
        "HOP_CLIENT_UDP_TIMEOUT_MS",
        "With --transport auto: milliseconds to wait for a UDP session before trying tcp \
         [default: 3000]",
    )
    .value_name("MS"),
    Setting::value(
        "udp_silence_ms",
        "HOP_CLIENT_UDP_SILENCE_MS",
        "With --transport auto: a UDP session unheard this long (milliseconds) moves the \
         tunnel to tcp at once, make-before-break [default: 1500]",
    )
    .value_name("MS"),
    Setting::value(
        "udp_probe_first_ms",
        "HOP_CLIENT_UDP_PROBE_FIRST_MS",
        "With --transport auto, while on tcp: try UDP again after at most this many \
         milliseconds (jittered), then after twice that, and so on [default: 5000]",
    )
    .value_name("MS"),
    Setting::value(
        "udp_probe_max_ms",
        "HOP_CLIENT_UDP_PROBE_MAX_MS",
        "With --transport auto, while on tcp: the longest wait between tries of UDP, \
         milliseconds [default: 60000]",
    )
    .value_name("MS"),
    Setting::value(
        "ha_connections",
        "HOP_CLIENT_HA_CONNECTIONS",
        "Sessions each tunnel keeps, on distinct gateway pods, so that losing a pod loses no \
         request; 1 keeps one session [default: 2, at most 4]",
    )
    .flag("ha-connections")
    .value_name("N"),
    Setting::value(
        "tunnel.domain",
        "HOP_CLIENT_DOMAIN",
        "The public domain to serve, e.g. app.example.com",
    )
    .flag("domain")
    .value_name("DOMAIN"),
    Setting::value(
        "tunnel.api_key",
        "HOP_CLIENT_API_KEY",
        "The domain's client API key (the variable is better: flags show in `ps`)",
    )
    .flag("key")
    .value_name("KEY"),
    Setting::value(
        "tunnel.local_target",
        "HOP_CLIENT_LOCAL_TARGET",
        "The local service: a port (3000 = 127.0.0.1:3000), host:port, or http://host:port",
    )
    .positional("TARGET"),
    Setting::value(
        "tunnel.host_header",
        "HOP_CLIENT_HOST_HEADER",
        "The Host the local service sees: preserve (the public domain), rewrite (the local \
         target's host:port; the public one goes in X-Forwarded-Host), or a host[:port] \
         [default: preserve]",
    )
    .flag("host-header")
    .value_name("MODE"),
    Setting::list(
        "tunnel.basic_auth",
        "HOP_CLIENT_BASIC_AUTH",
        "Ask visitors for this user and password (HTTP Basic) before calling the local \
         service; repeatable, or comma-separated (a password with a comma goes in the file)",
    )
    .flag("basic-auth")
    .value_name("USER:PASSWORD"),
    Setting::value(
        "tunnel.local_protocol",
        "HOP_CLIENT_LOCAL_PROTOCOL",
        "How to speak to the local service: http1 (HTTP/1.1), h2c (HTTP/2 without TLS, as gRPC \
         servers speak), or auto (h2c for gRPC requests, HTTP/1.1 for the rest) [default: auto]",
    )
    .flag("local-protocol")
    .value_name("PROTOCOL"),
    Setting::toggle(
        "tunnel.pool",
        "HOP_CLIENT_POOL",
        "Join the domain's pool: serve it together with the other agents started with --pool \
         (requests are spread over them, and a request whose agent dies is retried on another \
         when that is safe) instead of replacing the agent that serves it",
    )
    .flag("pool"),
    Setting::value(
        "server_fingerprint",
        "HOP_CLIENT_SERVER_FINGERPRINT",
        "Pin the gateway's certificate by its SHA-256 fingerprint (required with --debug)",
    )
    .flag("fingerprint")
    .value_name("HEX"),
    Setting::value(
        "ca_file",
        "HOP_CLIENT_CA_FILE",
        "Trust the CA certificates in this PEM file instead of the system's roots",
    )
    .value_name("PATH"),
    Setting::value(
        "server_name",
        "HOP_CLIENT_SERVER_NAME",
        "The name the gateway's certificate must carry [default: the host of --server]",
    )
    .value_name("NAME"),
    Setting::toggle(
        "debug",
        "HOP_CLIENT_DEBUG",
        "Debug mode: the gateway uses a self-signed certificate, pinned with --fingerprint",
    ),
    Setting::value(
        "response_timeout_secs",
        "HOP_CLIENT_RESPONSE_TIMEOUT_SECS",
        "Seconds the local service may take to start answering once it has the whole request \
         [default: 60]",
    )
    .flag("response-timeout")
    .value_name("SECS"),
    Setting::toggle(
        "verbose",
        "HOP_CLIENT_VERBOSE",
        "Log every request, not only failures",
    )
    .short('v'),
    Setting::value(
        "metrics_listen",
        "HOP_METRICS_LISTEN",
        "Serve /metrics, /healthz and /readyz on this address [default: off]",
    )
    .value_name("ADDR"),
    Setting::value(
        "inspect",
        "HOP_CLIENT_INSPECT",
        "The request inspector (a web page and JSON API of the latest requests, with replay): \
         on or off [default: on]",
    )
    .value_name("on|off"),
    Setting::value(
        "inspect_addr",
        "HOP_CLIENT_INSPECT_ADDR",
        "Where the inspector listens [default: 127.0.0.1:4040]",
    )
    .value_name("ADDR"),
    Setting::value(
        "inspect_max_exchanges",
        "HOP_CLIENT_INSPECT_MAX_EXCHANGES",
        "Requests the inspector keeps, the newest [default: 200]",
    )
    .value_name("N"),
    Setting::value(
        "inspect_body_prefix_bytes",
        "HOP_CLIENT_INSPECT_BODY_PREFIX_BYTES",
        "Bytes the inspector keeps of each request and response body [default: 16384]",
    )
    .value_name("BYTES"),
    Setting::value(
        "inspect_budget_bytes",
        "HOP_CLIENT_INSPECT_BUDGET_BYTES",
        "Bytes the inspector keeps in all; the oldest requests go first [default: 8388608]",
    )
    .value_name("BYTES"),
    Setting::value(
        "inspect_max_connections",
        "HOP_CLIENT_INSPECT_MAX_CONNECTIONS",
        "Connections the inspector serves at once [default: 32]",
    )
    .value_name("N"),
    Setting::value(
        "inspect_max_request_bytes",
        "HOP_CLIENT_INSPECT_MAX_REQUEST_BYTES",
        "The largest request body the inspector reads (a replay's edits) [default: 1048576]",
    )
    .value_name("BYTES"),
    Setting::value(
        "log_level",
        "HOP_LOG_LEVEL",
        "The lowest level of the JSON log lines on stdout: trace, debug, info, warning, error, \
         critical [default: info]",
    )
    .value_name("LEVEL"),
];

/// The agent's command line and settings.
pub const SPEC: Spec = Spec::new(
    "hopgate-agent",
    "Expose a local HTTP service on a public HTTPS domain through a HopGate gateway",
    SETTINGS,
)
.config_env("HOP_CLIENT_CONFIG")
.arrays(&[Array {
    key: "tunnel",
    match_on: "domain",
}])
.subcommand(Subcommand {
    name: "http",
    about: "Forward https://DOMAIN to a local HTTP service",
});
