//! Ports a test must name before anything listens on them (Pebble's HTTP-01 port, a local
//! service that is down at first).
//!
//! Binding port 0 and releasing it is racy: the kernel hands the same range out to every
//! other test's port-0 listener and outgoing connection, so another test can take the
//! port before ours binds it. These ports come from below the kernel's ephemeral range,
//! which only explicit binds use.

/// A TCP port on 127.0.0.1 that is free right now and that the kernel won't give to a
/// port-0 bind or an outgoing connection.
pub fn unused_port() -> u16 {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    // Above the well-known and commonly configured service ports.
    let low = 20_000.min(ephemeral_low.saturating_sub(1_000));
    for _ in 0..200 {
        let port = rand::random_range(low..ephemeral_low);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{ephemeral_low} after 200 tries");
}

#[cfg(test)]
mod tests {
    use super::unused_port;

    #[test]
    fn the_port_is_free_and_outside_the_ephemeral_range() {
        let port = unused_port();
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        assert!(port < low, "{port} is in the ephemeral range from {low}");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }
}
