use std::{
    collections::HashSet,
    io,
    net::{SocketAddr, TcpListener},
    time::Duration,
};

use actix_service::{ServiceFactory, fn_service};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

use super::{Job, WorkerEvent, WorkerSpec, Workers, bind_reusable, out_of_resources};

const WAIT: Duration = Duration::from_secs(5);

/// No thread to offer: every worker but the first gets one of its own.
fn own_threads(_: usize, start: Job) -> Result<(), Job> {
    Err(start)
}

/// Answers each connection with the name of the thread serving it, then echoes until EOF.
fn thread_namer()
-> impl ServiceFactory<TcpStream, Config = (), Response = (), Error = io::Error, InitError = ()> {
    fn_service(|mut tcp: TcpStream| async move {
        let name = std::thread::current().name().unwrap_or("?").to_owned();
        tcp.write_all(format!("{name}\n").as_bytes()).await?;
        let mut buf = [0u8; 64];
        loop {
            let n = tcp.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            tcp.write_all(&buf[..n]).await?;
        }
    })
}

/// `count` workers named `name` on `listener` serving [`thread_namer`], without a cap that
/// matters, each but the first on a thread of its own.
fn start_namers(listener: TcpListener, count: usize, name: &'static str) -> io::Result<Workers> {
    let spec = WorkerSpec {
        name,
        service: thread_namer,
        max_connections: 10_000,
        on_event: |_: WorkerEvent| {},
        host: own_threads,
    };
    Workers::start(listener, count, spec)
}

fn start(count: usize) -> (Workers, SocketAddr) {
    let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    (start_namers(listener, count, "test-worker").unwrap(), addr)
}

/// Connects and reads the serving thread's name.
async fn served_by(addr: SocketAddr) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut name = Vec::new();
    let mut byte = [0u8; 1];
    while timeout(WAIT, tcp.read_exact(&mut byte))
        .await
        .unwrap()
        .is_ok()
        && byte[0] != b'\n'
    {
        name.push(byte[0]);
    }
    (tcp, String::from_utf8(name).unwrap())
}

/// 32 open connections to `addr`, and the names of the threads that served them.
async fn thirty_two_connections(addr: SocketAddr) -> (Vec<TcpStream>, HashSet<String>) {
    let mut names = HashSet::new();
    let mut open = Vec::new();
    for _ in 0..32 {
        let (tcp, name) = served_by(addr).await;
        names.insert(name);
        open.push(tcp);
    }
    (open, names)
}

#[actix_web::test]
async fn every_worker_accepts_and_serves_its_own_connections() {
    let (workers, addr) = start(2);
    let (open, names) = thirty_two_connections(addr).await;
    // The kernel spreads connections over the group by their ports: 32 all on one of two
    // sockets would be a one-in-two-billion draw. The first worker is served here.
    let here = std::thread::current().name().unwrap_or("?").to_owned();
    let expected: HashSet<String> = [here, "test-worker-1".to_owned()].into();
    assert_eq!(names, expected);
    drop(open);
    workers.handle().stop().await.unwrap();
}

#[actix_web::test]
async fn a_worker_runs_on_the_thread_its_host_offers() {
    let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (hosts_done, hosts_ended) = std::sync::mpsc::channel::<()>();
    let host = move |index: usize, start: Job| {
        let done = hosts_done.clone();
        std::thread::Builder::new()
            .name(format!("test-host-{index}"))
            .spawn(move || {
                let runtime = actix_web::rt::Runtime::new().unwrap();
                runtime.block_on(async move {
                    start();
                    tokio::time::sleep(WAIT).await;
                });
                drop(done);
            })
            .unwrap();
        Ok(())
    };
    let spec = WorkerSpec {
        name: "test-hosted",
        service: thread_namer,
        max_connections: 10_000,
        on_event: |_: WorkerEvent| {},
        host,
    };
    let workers = Workers::start(listener, 2, spec).unwrap();
    let (open, names) = thirty_two_connections(addr).await;
    assert!(names.contains("test-host-1"), "{names:?}");
    assert!(
        !names.iter().any(|name| name.starts_with("test-hosted")),
        "{names:?}"
    );
    drop(open);
    workers.handle().stop().await.unwrap();
    drop(hosts_ended);
}

#[actix_web::test]
async fn paused_workers_serve_open_connections_and_accept_no_new_ones() {
    let (workers, addr) = start(2);
    let (mut open, _) = served_by(addr).await;
    workers.handle().pause();
    // The kernel still completes the handshake (the socket is listening) but nobody
    // accepts it, so the service never greets it.
    let mut late = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let greeted = timeout(Duration::from_millis(300), late.read(&mut byte)).await;
    assert!(greeted.is_err(), "a paused worker accepted a connection");
    open.write_all(b"still here").await.unwrap();
    let mut echoed = [0u8; 10];
    timeout(WAIT, open.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echoed, b"still here");
    workers.handle().stop().await.unwrap();
}

#[actix_web::test]
async fn stopping_ends_every_open_connection_and_the_join() {
    let (workers, addr) = start(2);
    let mut open = Vec::new();
    for _ in 0..4 {
        open.push(served_by(addr).await.0);
    }
    let handle = workers.handle();
    let joined = tokio::spawn(workers.join());
    timeout(WAIT, handle.stop()).await.unwrap().unwrap();
    timeout(WAIT, joined).await.unwrap().unwrap().unwrap();
    for mut tcp in open {
        let mut byte = [0u8; 1];
        let read = timeout(WAIT, tcp.read(&mut byte)).await.unwrap();
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "a connection outlived the stop"
        );
    }
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the port still listens"
    );
}

#[actix_web::test]
async fn dropping_the_workers_stops_them() {
    let (workers, addr) = start(1);
    let (mut open, _) = served_by(addr).await;
    let handle = workers.handle();
    drop(workers);
    timeout(WAIT, handle.stop()).await.unwrap().unwrap();
    let mut byte = [0u8; 1];
    let read = timeout(WAIT, open.read(&mut byte)).await.unwrap();
    assert!(matches!(read, Ok(0) | Err(_)));
}

#[actix_web::test]
async fn a_worker_whose_service_cannot_start_fails_the_join() {
    let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).unwrap();
    let spec = WorkerSpec {
        name: "test-broken",
        service: || {
            actix_service::fn_factory(|| async {
                Err::<actix_service::boxed::BoxService<TcpStream, (), io::Error>, ()>(())
            })
        },
        max_connections: 10_000,
        on_event: |_: WorkerEvent| {},
        host: own_threads,
    };
    let workers = Workers::start(listener, 2, spec).unwrap();
    let err = timeout(WAIT, workers.join()).await.unwrap().unwrap_err();
    assert!(
        err.to_string().contains("ended before it was stopped"),
        "{err}"
    );
}

#[actix_web::test]
async fn a_worker_holding_its_share_accepts_again_once_a_connection_ends() {
    let listener = bind_reusable("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let (events_tx, events) = std::sync::mpsc::channel();
    let spec = WorkerSpec {
        name: "test-capped",
        service: thread_namer,
        max_connections: 2,
        on_event: move |event| events_tx.send(event).unwrap(),
        host: own_threads,
    };
    let workers = Workers::start(listener, 1, spec).unwrap();
    let (first, _) = served_by(addr).await;
    let (_second, _) = served_by(addr).await;
    // The third waits in the kernel's queue: connected, never greeted.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let mut byte = [0u8; 1];
    let greeted = timeout(Duration::from_millis(300), third.read(&mut byte)).await;
    assert!(greeted.is_err(), "a worker accepted beyond its share");
    assert_eq!(events.try_iter().collect::<Vec<_>>(), [WorkerEvent::Full]);
    drop(first);
    // Once the first ends, the third is accepted and served.
    timeout(WAIT, third.read_exact(&mut byte))
        .await
        .unwrap()
        .unwrap();
    workers.handle().stop().await.unwrap();
}

#[test]
fn a_listener_not_bound_for_a_group_is_a_clear_error() {
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = plain.local_addr().unwrap();
    let Err(err) = start_namers(plain, 2, "test-plain") else {
        panic!("a second socket joined a port bound without SO_REUSEPORT");
    };
    assert!(
        err.to_string()
            .contains(&format!("another HTTPS worker socket on {addr}")),
        "{err}"
    );
}

#[test]
fn a_port_another_socket_listens_on_is_refused_not_shared() {
    let first = bind_reusable("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = first.local_addr().unwrap();
    let err = bind_reusable(addr).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let err = bind_reusable(plain.local_addr().unwrap()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn only_a_shortage_of_descriptors_or_memory_delays_the_next_accept() {
    for code in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
        assert!(out_of_resources(&io::Error::from_raw_os_error(code)));
    }
    for code in [libc::ECONNABORTED, libc::EPROTO, libc::EPERM] {
        assert!(!out_of_resources(&io::Error::from_raw_os_error(code)));
    }
}
