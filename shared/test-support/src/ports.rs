//! Ports for what a test names before anything listens on it: a TCP port where nothing
//! listens yet (and may later: [`ClosedPort`]), and a port for a process that binds a fixed
//! port itself (Pebble's HTTP-01 validation port: [`unused_port`]).
//!
//! Binding port 0, closing the socket and handing the number on is racy: the kernel hands
//! the same range out to every other test's port-0 listener and outgoing connection, so
//! another test can take the port in between. A [`ClosedPort`] keeps its socket bound
//! (never listening) until the test opens it; [`unused_port`] comes from below the
//! kernel's ephemeral range, which only explicit binds use.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use socket2::{Domain, Socket, Type};

/// A loopback TCP port that refuses connections (its socket is bound but not listening,
/// so the kernel answers every SYN with a reset) and that no one else can take until
/// [`ClosedPort::open`] turns it into a listener.
pub struct ClosedPort {
    socket: Socket,
    addr: SocketAddr,
}

impl ClosedPort {
    /// A fresh port on 127.0.0.1.
    pub fn new() -> Self {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        socket
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("binding 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .expect("the bound address")
            .as_socket()
            .expect("an IP address");
        Self { socket, addr }
    }

    /// Where nothing listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Starts listening on the port: connections are accepted from now on.
    pub fn open(self) -> TcpListener {
        self.socket.listen(128).expect("listening on the port");
        self.socket.into()
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP port on 127.0.0.1 that is free right now and that the kernel won't give to a
/// port-0 bind or an outgoing connection, for a process that binds it itself.
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
    use std::{io::ErrorKind, net::TcpStream};

    use super::{ClosedPort, unused_port};

    #[test]
    fn the_port_is_free_and_outside_the_ephemeral_range() {
        let port = unused_port();
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let low: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        assert!(port < low, "{port} is in the ephemeral range from {low}");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free");
    }

    #[test]
    fn a_closed_port_refuses_is_held_and_opens() {
        let closed = ClosedPort::new();
        let addr = closed.addr();
        let refused = TcpStream::connect(addr).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        assert!(
            std::net::TcpListener::bind(addr).is_err(),
            "nobody else can bind it"
        );
        let listener = closed.open();
        let _client = TcpStream::connect(addr).expect("accepted once open");
        listener.accept().unwrap();
    }
}
