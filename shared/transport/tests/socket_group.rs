//! A gateway port served by a group of sockets, each on its own thread: datagrams reach the
//! socket their source IP picks, sessions on every socket carry data, the listener's
//! limits hold for the group as a whole, and work handed to a socket's thread runs there.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use common::*;
use hopgate_transport::{
    Listener, ServerConfig, TransportConfig,
    reuseport::{bind_udp_group, socket_for},
};

/// Loopback addresses, each of which picks socket `index` of a group of two.
fn loopback_ips_for(index: usize, how_many: usize) -> Vec<IpAddr> {
    (2..=250u8)
        .map(|last| IpAddr::from([127, 0, 0, last]))
        .filter(|ip| socket_for(*ip, 2) == index)
        .take(how_many)
        .collect()
}

/// Which socket of `group` the next datagram arrives on, and what it carries.
fn arrival(group: &[UdpSocket]) -> (usize, Vec<u8>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        for (index, socket) in group.iter().enumerate() {
            if let Ok((len, _)) = socket.recv_from(&mut buf) {
                return (index, buf[..len].to_vec());
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no datagram arrived");
}

#[test]
fn datagrams_reach_the_socket_their_source_ip_picks_whatever_the_port() {
    let group = bind_udp_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let addr = group[0].local_addr().unwrap();
    assert_eq!(
        group[1].local_addr().unwrap(),
        addr,
        "one port for the group"
    );
    for socket in &group {
        socket.set_nonblocking(true).unwrap();
    }
    let ips: Vec<IpAddr> = [loopback_ips_for(0, 3), loopback_ips_for(1, 3)].concat();
    for ip in ips {
        // Three source ports of one IP: a NAT rebinding's new port must not move it.
        for _ in 0..3 {
            let sender = UdpSocket::bind(SocketAddr::new(ip, 0)).unwrap();
            let port = sender.local_addr().unwrap().port();
            let payload = format!("{ip}:{port}");
            sender.send_to(payload.as_bytes(), addr).unwrap();
            let (index, got) = arrival(&group);
            assert_eq!(got, payload.as_bytes());
            assert_eq!(index, socket_for(ip, 2), "{payload} reached socket {index}");
        }
    }
}

#[test]
fn an_ipv6_group_steers_by_the_whole_address() {
    let group = bind_udp_group("[::1]:0".parse().unwrap(), 3).unwrap();
    let addr = group[0].local_addr().unwrap();
    for socket in &group {
        socket.set_nonblocking(true).unwrap();
    }
    for _ in 0..4 {
        let sender = UdpSocket::bind("[::1]:0").unwrap();
        sender.send_to(b"v6", addr).unwrap();
        let (index, _) = arrival(&group);
        assert_eq!(index, socket_for("::1".parse().unwrap(), 3));
    }
}

#[test]
fn one_socket_is_a_plain_socket_and_a_group_needs_one_address() {
    let one = bind_udp_group("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    assert_eq!(one.len(), 1);
    // A plain socket is not in a reuse group: nobody else can bind its port.
    assert!(UdpSocket::bind(one[0].local_addr().unwrap()).is_err());
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mixed = Listener::bind_group(vec![a, b], ServerConfig::new(identity()));
    assert!(mixed.is_err(), "sockets on two ports are not one group");
}

async fn connect_from_ip(
    ip: IpAddr,
    listener: &Listener,
    config: &hopgate_transport::ClientConfig,
) -> Result<hopgate_transport::Session, hopgate_transport::ConnectError> {
    let mut config = config.clone();
    config.local_ip = Some(ip);
    hopgate_transport::connect(listener.local_addr(), &config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_every_socket_carry_data_and_the_session_limit_is_the_listeners() {
    let id = identity();
    let group = bind_udp_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let mut config = ServerConfig::new(id.clone());
    config.max_sessions = 2;
    let listener = std::sync::Arc::new(Listener::bind_group(group, config).unwrap());
    serve_hashing(listener.clone());
    let transport = TransportConfig {
        handshake_timeout: Duration::from_secs(2),
        ..TransportConfig::default()
    };
    let client = client_config(&id, transport);
    let first_ip = loopback_ips_for(0, 2);
    let second_ip = loopback_ips_for(1, 1)[0];

    let on_first = connect_from_ip(first_ip[0], &listener, &client)
        .await
        .unwrap();
    let on_second = connect_from_ip(second_ip, &listener, &client)
        .await
        .unwrap();
    let (up, down) = (
        exchange(&on_first, 2 << 20, 2 << 20, 1),
        exchange(&on_second, 2 << 20, 2 << 20, 2),
    );
    let (up, down) = tokio::join!(up, down);
    up.unwrap();
    down.unwrap();
    assert_eq!(listener.sessions_per_socket(), vec![1, 1]);
    let stats = listener.stats();
    assert_eq!((stats.sessions, stats.dtls_associations), (2, 2));

    // The first socket holds one session, but the listener holds two: a third is refused.
    let refused = connect_from_ip(first_ip[1], &listener, &client).await;
    assert!(refused.is_err(), "a session beyond max_sessions");
    assert!(listener.stats().handshakes_refused >= 1);
    assert_eq!(listener.sessions_per_socket(), vec![1, 1]);

    // One gone, there is room again, on either socket.
    on_second.close("done");
    let deadline = Instant::now() + Duration::from_secs(10);
    while listener.stats().dtls_associations > 1 {
        assert!(
            Instant::now() < deadline,
            "the closed session's association stayed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = connect_from_ip(first_ip[1], &listener, &client)
        .await
        .unwrap();
    exchange(&again, 1 << 16, 1 << 16, 3).await.unwrap();
    assert_eq!(
        listener.sessions_per_socket()[0],
        2,
        "both sessions from the first socket's addresses are on it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_listener_ends_the_sessions_on_every_socket() {
    let id = identity();
    let group = bind_udp_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let listener =
        std::sync::Arc::new(Listener::bind_group(group, ServerConfig::new(id.clone())).unwrap());
    serve_hashing(listener.clone());
    let client = client_config(&id, TransportConfig::default());
    let a = connect_from_ip(loopback_ips_for(0, 1)[0], &listener, &client)
        .await
        .unwrap();
    let b = connect_from_ip(loopback_ips_for(1, 1)[0], &listener, &client)
        .await
        .unwrap();
    listener.close("maintenance");
    for session in [a, b] {
        let ended = tokio::time::timeout(Duration::from_secs(5), session.closed())
            .await
            .expect("a session outlived its listener");
        assert!(ended.to_string().contains("maintenance"), "{ended}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_ip_of_the_other_family_is_a_clear_error() {
    let id = identity();
    let listener = bind_listener(&id, TransportConfig::default());
    let mut config = client_config(&id, TransportConfig::default());
    config.local_ip = Some("::1".parse().unwrap());
    let err = hopgate_transport::connect(listener.local_addr(), &config)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("another address family"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_on_both_sockets_at_once_all_complete() {
    let id = identity();
    let group = bind_udp_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let mut config = ServerConfig::new(id.clone());
    config.handshakes_per_s = 100_000;
    config.handshake_burst = Some(100_000);
    let listener = std::sync::Arc::new(Listener::bind_group(group, config).unwrap());
    serve_hashing(listener.clone());
    let client = client_config(&id, TransportConfig::default());
    // Eight addresses of each socket, eight agents each, all dialling at once: admissions
    // on the two sockets' threads interleave.
    let ips = [loopback_ips_for(0, 8), loopback_ips_for(1, 8)].concat();
    let dials = ips
        .iter()
        .flat_map(|ip| std::iter::repeat_n(*ip, 8))
        .map(|ip| {
            let client = client.clone();
            let listener = listener.clone();
            tokio::spawn(async move { connect_from_ip(ip, &listener, &client).await })
        });
    let dials: Vec<_> = dials.collect();
    let mut sessions = Vec::new();
    for dial in dials {
        sessions.push(dial.await.unwrap().expect("every handshake completes"));
    }
    let stats = listener.stats();
    assert_eq!(stats.handshake_records_refused, 0, "{stats:?}");
    assert_eq!(stats.sessions, 128);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_handed_to_a_sockets_thread_runs_there_and_may_spawn_local_tasks() {
    let group = bind_udp_group("127.0.0.1:0".parse().unwrap(), 2).unwrap();
    let listener = Listener::bind_group(group, ServerConfig::new(identity())).unwrap();
    let (ran_tx, ran) = tokio::sync::oneshot::channel();
    let job = Box::new(move || {
        // Not `Send`: only a LocalSet can run it.
        let here = std::rc::Rc::new(std::thread::current().name().map(str::to_owned));
        tokio::task::spawn_local(async move {
            let _ = ran_tx.send((*here).clone());
        });
    });
    assert!(listener.run_on_socket_thread(1, job).is_ok());
    let name = tokio::time::timeout(Duration::from_secs(5), ran)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name.as_deref(), Some("dtls-socket-1"));
    // The first socket runs on the caller's runtime, and there is no third: both jobs
    // come back unrun.
    for index in [0, 2] {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let job = Box::new(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
        let Err(returned) = listener.run_on_socket_thread(index, job) else {
            panic!("socket {index} took the job");
        };
        returned();
        assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    }
    // Once the listener has closed, its threads take no more work.
    listener.close("test over");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while listener.run_on_socket_thread(1, Box::new(|| {})).is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "still taking work");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
