//! A gateway's UDP port served by several sockets, one per thread ([`crate::Listener`]):
//! `SO_REUSEPORT` puts them in one group, and a small classic-BPF program attached to the
//! group picks the socket for each arriving datagram from its **source IP alone**.
//!
//! The kernel's own choice hashes the source port too, so an agent behind a NAT that
//! rebinds its port would land on another socket, which knows nothing of its association.
//! By IP, everything one address sends reaches one socket: its associations, its
//! handshakes and a rebinding's records (which are only ever matched against the
//! associations of the same IP, [`crate::dtls`]) all stay with one table, and the per-IP
//! limits are that table's. Agents behind one address share a socket; a flood from one
//! address loads one socket's thread.
//!
//! Only a process of the same user can join a port's group (the kernel's rule), and the
//! program is the group's, attached before anything is read.

use std::{
    io,
    net::{IpAddr, SocketAddr, UdpSocket},
};

use nix::{libc, sys::socket::sockopt::AttachReusePortCbpf};
use socket2::{Domain, Protocol, Socket, Type};

/// Binds `count` UDP sockets to `addr` (port 0 picks one port for all), as one group whose
/// datagrams are spread by source IP. One socket is bound plainly.
pub fn bind_udp_group(addr: SocketAddr, count: usize) -> io::Result<Vec<UdpSocket>> {
    if count <= 1 {
        return Ok(vec![UdpSocket::bind(addr)?]);
    }
    let modulus = u32::try_from(count)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many sockets"))?;
    let first = grouped(addr)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an internet socket"))?;
    steer_by_source_ip(&first, modulus)?;
    let mut sockets = vec![UdpSocket::from(first)];
    for _ in 1..count {
        sockets.push(UdpSocket::from(grouped(bound)?));
    }
    Ok(sockets)
}

/// A socket bound to `addr` in the port's reuse group.
fn grouped(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Which of `count` sockets a datagram from `ip` reaches: what the program computes.
pub fn socket_for(ip: IpAddr, count: usize) -> usize {
    let key = match ip {
        IpAddr::V4(v4) => u32::from_be_bytes(v4.octets()),
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .map(|word| u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
            .fold(0, |key, word| key ^ word),
    };
    let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
    (mix(key) % count) as usize
}

/// Spreads addresses that differ in a few bits (neighbours in one subnet) over the sockets.
const MULTIPLIER: u32 = 0x9E37_79B1;

fn mix(key: u32) -> u32 {
    key.wrapping_mul(MULTIPLIER) >> 16
}

/// Where classic BPF finds the network header (`SKF_NET_OFF`).
const NET: u32 = (-0x0010_0000_i32) as u32;

/// Attaches the program that picks a socket by source IP, the same as [`socket_for`].
fn steer_by_source_ip(socket: &Socket, count: u32) -> io::Result<()> {
    let mut program = steering_program(count);
    let len = u16::try_from(program.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "steering program too long"))?;
    let fprog = libc::sock_fprog {
        len,
        filter: program.as_mut_ptr(),
    };
    nix::sys::socket::setsockopt(socket, AttachReusePortCbpf, &fprog).map_err(io::Error::from)
}

fn steering_program(count: u32) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_A, BPF_ABS, BPF_ALU, BPF_B, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_MISC, BPF_MOD,
        BPF_MUL, BPF_RET, BPF_RSH, BPF_TAX, BPF_W, BPF_X, BPF_XOR,
    };
    let op = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let load_word = |offset: u32| op(BPF_LD | BPF_W | BPF_ABS, NET.wrapping_add(offset));
    let xor_into_x = [op(BPF_ALU | BPF_XOR | BPF_X, 0), op(BPF_MISC | BPF_TAX, 0)];
    let mut program = vec![
        // The IP version: the first header byte's high nibble.
        op(BPF_LD | BPF_B | BPF_ABS, NET),
        op(BPF_ALU | BPF_RSH | BPF_K, 4),
        libc::sock_filter {
            code: (BPF_JMP | BPF_JEQ | BPF_K) as u16,
            jt: 2,
            jf: 0,
            k: 6,
        },
        // IPv4: the source address, at byte 12.
        load_word(12),
        op(BPF_JMP | BPF_JA, 10),
        // IPv6: the four words of the source address, at byte 8, folded by XOR.
        load_word(8),
        op(BPF_MISC | BPF_TAX, 0),
    ];
    for offset in [12, 16, 20] {
        program.push(load_word(offset));
        program.extend(xor_into_x);
    }
    // The last XOR's result stays in A; its TAX is not needed.
    program.pop();
    program.extend([
        op(BPF_ALU | BPF_MUL | BPF_K, MULTIPLIER),
        op(BPF_ALU | BPF_RSH | BPF_K, 16),
        op(BPF_ALU | BPF_MOD | BPF_K, count),
        op(BPF_RET | BPF_A, 0),
    ]);
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ipv4_branch_jumps_to_the_mixing() {
        let program = steering_program(2);
        let ja = program
            .iter()
            .position(|op| u32::from(op.code) == libc::BPF_JMP | libc::BPF_JA)
            .unwrap();
        let target = ja + 1 + program[ja].k as usize;
        assert_eq!(
            u32::from(program[target].code),
            libc::BPF_ALU | libc::BPF_MUL | libc::BPF_K
        );
        assert_eq!(program.len(), 19);
    }

    #[test]
    fn neighbouring_addresses_spread_over_the_sockets() {
        let mut seen = [0usize; 4];
        for last in 1..=64u8 {
            seen[socket_for(IpAddr::from([10, 0, 0, last]), 4)] += 1;
        }
        assert!(seen.iter().all(|&n| n >= 8), "{seen:?}");
    }
}
