//! What the kernel says about one UDP socket.

use std::net::SocketAddr;

use anyhow::Context;

/// Datagrams the kernel dropped on their way to the IPv4 UDP socket bound to `local`
/// (mostly for want of room in its receive buffer): the `drops` column of /proc/net/udp.
/// Zero if no such socket is listed.
pub(crate) fn socket_drops(local: SocketAddr) -> anyhow::Result<u64> {
    let table = std::fs::read_to_string("/proc/net/udp")?;
    let wanted = hex_address(local);
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&wanted.as_str()) {
            let drops = fields.last().context("an empty /proc/net/udp line")?;
            return drops.parse().context("the drops column of /proc/net/udp");
        }
    }
    Ok(0)
}

/// `local` as /proc/net/udp writes it: the IPv4 address as the kernel holds it in memory
/// (little-endian on x86) and the port, both in hexadecimal.
fn hex_address(local: SocketAddr) -> String {
    let ip = match local.ip() {
        std::net::IpAddr::V4(v4) => u32::from_le_bytes(v4.octets()),
        std::net::IpAddr::V6(_) => 0,
    };
    format!("{ip:08X}:{:04X}", local.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_the_kernel_lists_them() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(hex_address(local), "0100007F:1F90");
    }

    #[test]
    fn a_bound_socket_is_found_with_no_drops() -> anyhow::Result<()> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        assert_eq!(socket_drops(socket.local_addr()?)?, 0);
        Ok(())
    }
}
