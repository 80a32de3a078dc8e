//! The table of every setting: its TOML key, its `HOP_…` variable and its `--help` text.
//! [`super::SPEC`] hands it to `hopgate-settings`, which layers the sources by it.

use hopgate_settings::Setting;

/// Every setting: TOML key, variable, help. The flag is the key with `-` (`--https-listen`).
pub(super) const SETTINGS: &[Setting] = &[
    Setting::value(
        "http_listen",
        "HOP_SERVER_HTTP_LISTEN",
        "Plain HTTP listener: ACME HTTP-01 answers and redirects to HTTPS [default: 0.0.0.0:80]",
    ),
    Setting::value(
        "https_listen",
        "HOP_SERVER_HTTPS_LISTEN",
        "HTTPS listener for visitors [default: 0.0.0.0:443]",
    ),
    Setting::value(
        "dtls_listen",
        "HOP_SERVER_DTLS_LISTEN",
        "DTLS (UDP) listener for agents [default: 0.0.0.0:443]",
    ),
    Setting::value(
        "domain",
        "HOP_SERVER_DOMAIN",
        "The gateway's main domain (required)",
    ),
    Setting::switch(
        "debug",
        "HOP_SERVER_DEBUG",
        "Self-signed certificates (agents pin the fingerprint printed at start)",
    ),
    Setting::value(
        "control_plane_url",
        "HOP_CONTROL_PLANE_URL",
        "The control-plane's internal listener, which pushes the routing table",
    ),
    Setting::value(
        "internal_token",
        "HOP_INTERNAL_TOKEN",
        "The token shared with the control-plane's internal listener (secret)",
    ),
    Setting::value(
        "pod_id",
        "HOP_POD_ID",
        "This pod's name in the control-plane's view [default: the host name]",
    ),
    Setting::list(
        "dev_domains",
        "HOP_DEV_DOMAINS",
        "A fixed routing table instead of the control-plane's (debug mode only): DOMAIN=KEY, \
         repeatable or comma-separated",
    )
    .flag("dev-domain"),
    Setting::value(
        "state_dir",
        "HOP_SERVER_STATE_DIR",
        "Where the last table snapshot and, in debug mode, debug-cert.pem are kept",
    ),
    Setting::value(
        "metrics_listen",
        "HOP_METRICS_LISTEN",
        "Internal listener for /metrics, /healthz, /readyz [default: 127.0.0.1:9100]",
    ),
    Setting::value(
        "header_timeout",
        "HOP_SERVER_HEADER_TIMEOUT",
        "How long a visitor may take to send a request's headers [default: 10s]",
    ),
    Setting::value(
        "drain_timeout",
        "HOP_SERVER_DRAIN_TIMEOUT",
        "On SIGTERM, how long requests in flight may take to finish [default: 30s]",
    ),
    Setting::value(
        "agent_unheard_after",
        "HOP_SERVER_AGENT_UNHEARD_AFTER",
        "While requests wait on an agent's session: how long the agent may go unheard \
         (pinged meanwhile) before its session is closed and the requests fail over or get \
         a 502; longer than the agents' keepalive interval (3s), at most 60s [default: 4s]",
    ),
    Setting::value(
        "relay_listen",
        "HOP_SERVER_RELAY_LISTEN",
        "Listener for requests other pods relay here (cross-pod routing), or 'off' \
         [default: 0.0.0.0:8444 in production, off in debug mode]",
    ),
    Setting::value(
        "relay_port",
        "HOP_SERVER_RELAY_PORT",
        "The port other pods reach the relay listener on, at the address this pod reports \
         to the control-plane from [default: the listener's port]",
    ),
    Setting::value(
        "relay_token",
        "HOP_RELAY_TOKEN",
        "The pods' shared relay secret, 32+ characters, not HOP_INTERNAL_TOKEN (secret; \
         required with HOP_CONTROL_PLANE_URL or the relay listener)",
    ),
    Setting::value(
        "relay_tls_cert",
        "HOP_RELAY_TLS_CERT",
        "PEM certificate chain: the relay listener serves HTTPS [default: plain HTTP]",
    ),
    Setting::value(
        "relay_tls_key",
        "HOP_RELAY_TLS_KEY",
        "PEM private key of HOP_RELAY_TLS_CERT",
    ),
    Setting::value(
        "relay_ca",
        "HOP_RELAY_CA",
        "PEM CA that issued the pods' relay certificates: relays go over HTTPS, verified \
         against it alone [default: plain HTTP]",
    ),
    Setting::value(
        "relay_server_name",
        "HOP_RELAY_SERVER_NAME",
        "The name every relay certificate carries (relay URLs are IP addresses) \
         [default: hopgate-relay]",
    ),
    Setting::value(
        "control_plane_ca",
        "HOP_CONTROL_PLANE_CA",
        "PEM CA an https:// HOP_CONTROL_PLANE_URL is verified against alone \
         [default: the public roots]",
    ),
    Setting::value(
        "placement_wait",
        "HOP_SERVER_PLACEMENT_WAIT",
        "With a control-plane: how long the pod stays unready (/readyz 503) waiting for its \
         first placements (which other pods hold which domains' agents) before it \
         is ready without them, e.g. serving from its table snapshot while the \
         control-plane is away; at most 60s [default: 3s]",
    ),
    Setting::value(
        "response_timeout",
        "HOP_SERVER_RESPONSE_TIMEOUT",
        "How long a request may wait for the agent's response head [default: 60s]",
    ),
    Setting::value(
        "stream_wait",
        "HOP_SERVER_STREAM_WAIT",
        "How long a request may wait for a free stream on the agent's session before a 503 \
         [default: 5s]",
    ),
    Setting::value(
        "body_timeout",
        "HOP_SERVER_BODY_TIMEOUT",
        "How long a request body may make no progress before it is cut (408); not \
         WebSockets [default: 30s]",
    ),
    Setting::value(
        "max_requests_per_domain",
        "HOP_SERVER_MAX_REQUESTS_PER_DOMAIN",
        "Requests (WebSockets included) one domain may have in flight on this pod; more get \
         a 503 [default: 768, below an agent's 1,024 streams]",
    ),
    Setting::value(
        "max_requests_per_client",
        "HOP_SERVER_MAX_REQUESTS_PER_CLIENT",
        "Requests (WebSockets included) one client IP (an IPv6 /64) may have in flight on \
         this pod; more get a 503 [default: 384]",
    ),
    Setting::value(
        "tls_handshake_timeout",
        "HOP_SERVER_TLS_HANDSHAKE_TIMEOUT",
        "How long a visitor's TLS handshake may take from the accept before the connection \
         is closed [default: 3s]",
    ),
    Setting::value(
        "tls_ticket_key_rotation",
        "HOP_SERVER_TLS_TICKET_KEY_ROTATION",
        "How long the HTTPS listener's TLS session ticket keys live: a visitor coming back \
         within it resumes its session without a full handshake; at most 2h, 0 turns \
         resumption off [default: 1h]",
    ),
    Setting::value(
        "max_connections",
        "HOP_SERVER_MAX_CONNECTIONS",
        "HTTPS connections the pod holds open at most, each worker its share; a worker \
         holding its share accepts no more until one ends (new visitors wait in the \
         kernel's queue) [default: 50000]",
    ),
    Setting::value(
        "max_connections_per_ip",
        "HOP_SERVER_MAX_CONNECTIONS_PER_IP",
        "Open connections one client IP (an IPv6 /64) may hold on the HTTPS and HTTP \
         listeners together; more are closed at once [default: 256]",
    ),
    Setting::value(
        "max_handshakes_per_ip",
        "HOP_SERVER_MAX_HANDSHAKES_PER_IP",
        "TLS handshakes one client IP (an IPv6 /64) may have in progress; more connections \
         are closed at once [default: 32]",
    ),
    Setting::value(
        "h2_max_concurrent_streams",
        "HOP_SERVER_H2_MAX_CONCURRENT_STREAMS",
        "Streams one HTTP/2 connection may have open; more are refused (REFUSED_STREAM) \
         [default: 128]",
    ),
    Setting::value(
        "h2_max_header_list_size",
        "HOP_SERVER_H2_MAX_HEADER_LIST_SIZE",
        "Largest HTTP/2 header block, in bytes once decoded; heads the tunnel can't carry (over \
         64 KiB) are answered with the 431 page up to this size [default: 131072]",
    ),
    Setting::value(
        "h2_max_pending_resets",
        "HOP_SERVER_H2_MAX_PENDING_RESETS",
        "Streams an HTTP/2 client may open and reset before the pod takes them up; more \
         close the connection (GOAWAY ENHANCE_YOUR_CALM; rapid reset) [default: 20]",
    ),
    Setting::value(
        "h2_max_error_resets",
        "HOP_SERVER_H2_MAX_ERROR_RESETS",
        "Streams the pod may reset for an HTTP/2 client's protocol errors before it closes \
         the connection (GOAWAY ENHANCE_YOUR_CALM) [default: 256]",
    ),
    Setting::value(
        "dtls_handshakes_per_ip",
        "HOP_SERVER_DTLS_HANDSHAKES_PER_IP",
        "DTLS handshakes one source IP may have in progress (after its cookie round trip); \
         more are refused [default: 8]",
    ),
    Setting::value(
        "dtls_sockets",
        "HOP_SERVER_DTLS_SOCKETS",
        "UDP sockets serving the DTLS port, each on a thread of its own; agents are spread \
         over them by source IP. 0: one per core [default: 0]",
    ),
    Setting::value(
        "https_workers",
        "HOP_SERVER_HTTPS_WORKERS",
        "Threads serving visitors' HTTPS, each accepting its own connections on a socket of \
         the port's SO_REUSEPORT group. 0: one per core [default: 0]",
    ),
    Setting::value(
        "dtls_handshakes_per_s",
        "HOP_SERVER_DTLS_HANDSHAKES_PER_S",
        "New DTLS handshakes started a second at most (HOP_SERVER_DTLS_HANDSHAKE_BURST may \
         start at once); a burst of agents waits its turn (hopgate_dtls_handshake_steps_queued) \
         instead of taking every core [default: 500]",
    ),
    Setting::value(
        "dtls_handshake_burst",
        "HOP_SERVER_DTLS_HANDSHAKE_BURST",
        "New DTLS handshakes that may start at once, on top of HOP_SERVER_DTLS_HANDSHAKES_PER_S; \
         a storm of agents beyond it arrives at that rate [default: 50]",
    ),
    Setting::value(
        "dtls_migration_candidates",
        "HOP_SERVER_DTLS_MIGRATION_CANDIDATES",
        "A DTLS record from a new port of an agent's IP (a NAT rebinding) is tried against \
         this many of that IP's sessions, the most recently active; one it authenticates \
         under moves there. 0 turns this off (the agent reconnects after its idle timeout) \
         [default: 8]",
    ),
    Setting::value(
        "dtls_migration_trials_per_ip",
        "HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP",
        "Such records one source IP may have tried per second; more are dropped \
         (hopgate_dtls_migrations_total{result=\"rate_limited\"}) [default: 32]",
    ),
    Setting::value(
        "dtls_handshake_timeout",
        "HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT",
        "How long a DTLS handshake may take before its state is dropped, and an agent's TLS \
         connection on the tunnel's ALPN to set its session up before it is closed \
         [default: 5s]",
    ),
    Setting::value(
        "hello_timeout",
        "HOP_SERVER_HELLO_TIMEOUT",
        "How long a new agent session may take to send its hello; until then it may open one \
         stream and send HOP_SERVER_HELLO_RECEIVE_WINDOW [default: 5s]",
    ),
    Setting::value(
        "hello_receive_window",
        "HOP_SERVER_HELLO_RECEIVE_WINDOW",
        "Bytes a new agent session may send before its hello is accepted, at least 16384 \
         [default: 65536]",
    ),
    Setting::value(
        "max_pool_sessions",
        "HOP_SERVER_MAX_POOL_SESSIONS",
        "Agents one domain's pool may hold on this pod (agents started with --pool); more \
         are refused with pool_full [default: 16]",
    ),
    Setting::value(
        "tcp_send_queue_bytes",
        "HOP_SERVER_TCP_SEND_QUEUE_BYTES",
        "Bytes queued towards one agent whose session runs over TCP (the fallback on the \
         HTTPS port); beyond this its packets are dropped, so a slow reader slows only its own \
         session [default: 4194304]",
    ),
    Setting::value(
        "log_level",
        "HOP_LOG_LEVEL",
        "error, warn, info or debug [default: info]",
    ),
];
