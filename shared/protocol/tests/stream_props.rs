//! Property tests of a request stream's rules: both ends of one stream, driven through
//! random orders of events (bodies, trailers, resets at random points, upgrades, stray
//! frames), must agree: whatever one end accepts sending, the other accepts receiving; a
//! reset ends the exchange at both ends; nothing is accepted after the FIN or a reset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::VecDeque;

use bytes::Bytes;
use common::{request_head, response_head};
use hopgate_protocol::{
    End, EndOfBody, Exchange, Frame, Header, Ping, RequestSide, Reset, ResetCode, ResponseHead,
    SideState, StreamError,
};
use proptest::prelude::*;

/// What one end tries to do next.
#[derive(Debug, Clone)]
enum Attempt {
    /// The frame the rules expect next where the sender is: a head (asking a switch,
    /// answering with `status`), body data or `EndOfBody`, or the FIN.
    Next {
        upgrade: bool,
        status: u16,
        data: Bytes,
        end: bool,
        trailers: Vec<Header>,
    },
    /// A `Reset` frame.
    Reset,
    /// The FIN, wherever the sender is.
    Fin,
    /// A frame picked without looking at the state.
    Any(Frame),
}

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    Gateway(Attempt),
    Agent(Attempt),
    /// The oldest frame on its way to the agent arrives.
    DeliverUp,
    /// The oldest frame on its way to the gateway arrives.
    DeliverDown,
}

/// What travels on one direction, with the sender's state just after sending it.
#[derive(Debug, Clone)]
enum Wire {
    Frame(Frame, SideState),
    Fin,
}

fn arb_header() -> impl Strategy<Value = Header> {
    ("[a-z-]{1,12}", prop::collection::vec(any::<u8>(), 0..16))
        .prop_map(|(name, value)| Header::new(name, value))
}

fn arb_data() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn arb_status() -> impl Strategy<Value = u16> {
    prop::sample::select(&[100, 101, 101, 101, 200, 204, 404, 502, 1000][..])
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        any::<bool>().prop_map(|upgrade| Frame::RequestHead(request_head(upgrade))),
        arb_status().prop_map(|status| Frame::ResponseHead(response_head(status))),
        arb_data().prop_map(Frame::BodyChunk),
        prop::collection::vec(arb_header(), 0..3)
            .prop_map(|trailers| Frame::EndOfBody(EndOfBody { trailers })),
        Just(Frame::Reset(Reset::new(ResetCode::Internal, "stray"))),
        any::<u64>().prop_map(|nonce| Frame::Ping(Ping { nonce })),
    ]
}

fn arb_attempt() -> impl Strategy<Value = Attempt> {
    prop_oneof![
        8 => (
            any::<bool>(),
            arb_status(),
            arb_data(),
            prop::bool::weighted(0.2),
            prop::collection::vec(arb_header(), 0..3),
        )
            .prop_map(|(upgrade, status, data, end, trailers)| Attempt::Next {
                upgrade,
                status,
                data,
                end,
                trailers,
            }),
        1 => Just(Attempt::Reset),
        1 => Just(Attempt::Fin),
        2 => arb_frame().prop_map(Attempt::Any),
    ]
}

fn arb_steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        arb_attempt().prop_map(Step::Gateway),
        arb_attempt().prop_map(Step::Agent),
        Just(Step::DeliverUp),
        Just(Step::DeliverDown),
    ];
    prop::collection::vec(step, 0..60)
}

/// One end of the stream and the queue of what it sent.
struct Peer {
    exchange: Exchange,
    sent: VecDeque<Wire>,
    /// Whether this end accepted the answer's head (sent or received).
    answered: bool,
}

impl Peer {
    fn new(end: End) -> Self {
        Self {
            exchange: Exchange::new(end),
            sent: VecDeque::new(),
            answered: false,
        }
    }

    /// The state of the direction this end sends on.
    fn sending_state(&self) -> SideState {
        match self.exchange.end() {
            End::Gateway => self.exchange.request().state(),
            End::Agent => self.exchange.response().state(),
        }
    }

    /// The state of the direction this end receives on.
    fn receiving_state(&self) -> SideState {
        match self.exchange.end() {
            End::Gateway => self.exchange.response().state(),
            End::Agent => self.exchange.request().state(),
        }
    }

    /// The frame `attempt` stands for, where this end is; `None` for the FIN.
    fn frame_for(&self, attempt: Attempt) -> Option<Frame> {
        match attempt {
            Attempt::Fin => None,
            Attempt::Reset => Some(Frame::Reset(Reset::new(ResetCode::Cancelled, "gone"))),
            Attempt::Any(frame) => Some(frame),
            Attempt::Next {
                upgrade,
                status,
                data,
                end,
                trailers,
            } => match (self.sending_state(), self.exchange.end()) {
                (SideState::AwaitingHead, End::Gateway) => {
                    Some(Frame::RequestHead(request_head(upgrade)))
                }
                (SideState::AwaitingHead, End::Agent) => {
                    // An agent answers a switch it was asked for with 101, usually.
                    let status = match self.exchange.request().asks_upgrade() && upgrade {
                        true => 101,
                        false => status,
                    };
                    Some(Frame::ResponseHead(ResponseHead {
                        status,
                        headers: Vec::new(),
                    }))
                }
                (state, _) if state.takes_data() && end => {
                    Some(Frame::EndOfBody(EndOfBody { trailers }))
                }
                (state, _) if state.takes_data() => Some(Frame::BodyChunk(data)),
                _ => None,
            },
        }
    }

    /// Tries `attempt`; an accepted frame (or FIN) is queued for the other end. A refused
    /// one must leave the exchange as it was.
    fn attempt(&mut self, attempt: Attempt) -> Result<(), TestCaseError> {
        let before = self.exchange;
        match self.frame_for(attempt) {
            Some(frame) => match self.exchange.send(&frame) {
                Ok(state) => {
                    self.answered |= matches!(frame, Frame::ResponseHead(_));
                    self.sent.push_back(Wire::Frame(frame, state));
                }
                Err(_) => prop_assert_eq!(self.exchange, before),
            },
            None => match self.exchange.send_fin() {
                Ok(_) => self.sent.push_back(Wire::Fin),
                Err(_) => prop_assert_eq!(self.exchange, before),
            },
        }
        Ok(())
    }

    /// Receives what `from` sent first, checking that it is accepted, unless this end
    /// had already abandoned the direction (its own reset: in-flight frames are dropped).
    fn deliver(&mut self, from: &mut Peer) -> Result<(), TestCaseError> {
        let Some(wire) = from.sent.pop_front() else {
            return Ok(());
        };
        let abandoned = self.receiving_state() == SideState::Reset;
        match wire {
            Wire::Frame(frame, sender_state) => {
                let received = self.exchange.receive(&frame);
                if abandoned {
                    prop_assert!(
                        matches!(received, Err(StreamError::Closed { .. })),
                        "{:?} after this end's reset: {:?}",
                        frame,
                        received
                    );
                } else {
                    let state = received.map_err(|err| {
                        TestCaseError::fail(format!("sent {frame:?}, refused on receipt: {err}"))
                    })?;
                    // Each end learns of a 101 when it passes by, so a chunk sent as body
                    // may be received as pipe: the same grammar, named differently.
                    prop_assert_eq!(same_grammar(state), same_grammar(sender_state));
                    self.answered |= matches!(frame, Frame::ResponseHead(_));
                }
            }
            Wire::Fin => {
                let received = self.exchange.receive_fin();
                let expected = match abandoned {
                    true => SideState::Reset,
                    false => SideState::Finished,
                };
                prop_assert_eq!(received, Ok(expected));
            }
        }
        if self.receiving_state() == SideState::Reset {
            prop_assert!(self.exchange.is_over(), "a reset ends both directions");
        }
        Ok(())
    }
}

fn same_grammar(state: SideState) -> SideState {
    match state {
        SideState::Pipe => SideState::Body,
        other => other,
    }
}

/// Every frame type and the FIN are refused on a closed direction.
fn assert_closed_takes_nothing(exchange: Exchange) -> Result<(), TestCaseError> {
    let frames = [
        Frame::RequestHead(request_head(true)),
        Frame::ResponseHead(ResponseHead {
            status: 101,
            headers: Vec::new(),
        }),
        Frame::BodyChunk(Bytes::from_static(b"late")),
        Frame::EndOfBody(EndOfBody::default()),
        Frame::Reset(Reset::new(ResetCode::Cancelled, "late")),
        Frame::Ping(Ping { nonce: 0 }),
    ];
    let (request, response) = exchange.into_sides();
    if request.state().is_closed() {
        for frame in &frames {
            let mut side = request;
            let refused = side.on_frame(frame);
            prop_assert!(
                matches!(refused, Err(StreamError::Closed { .. })),
                "{refused:?}"
            );
        }
    }
    if response.state().is_closed() {
        for frame in &frames {
            let mut side = response;
            let refused = side.on_frame(frame);
            prop_assert!(
                matches!(refused, Err(StreamError::Closed { .. })),
                "{refused:?}"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn both_ends_of_a_stream_agree(steps in arb_steps()) {
        let mut gateway = Peer::new(End::Gateway);
        let mut agent = Peer::new(End::Agent);
        let mut reset_sent = false;
        for step in steps {
            match step {
                Step::Gateway(attempt) => gateway.attempt(attempt)?,
                Step::Agent(attempt) => agent.attempt(attempt)?,
                Step::DeliverUp => agent.deliver(&mut gateway)?,
                Step::DeliverDown => gateway.deliver(&mut agent)?,
            }
            for peer in [&gateway, &agent] {
                if matches!(peer.sent.back(), Some(Wire::Frame(Frame::Reset(_), _))) {
                    reset_sent = true;
                    prop_assert!(peer.exchange.is_over(), "a sent reset ends both directions");
                }
            }
        }
        while !gateway.sent.is_empty() || !agent.sent.is_empty() {
            agent.deliver(&mut gateway)?;
            gateway.deliver(&mut agent)?;
        }
        if reset_sent {
            prop_assert!(gateway.exchange.is_over() && agent.exchange.is_over());
        }
        // Once both ends took the answer's head, they know the same about a switch, and an
        // open direction of a switched exchange is a pipe.
        if gateway.answered && agent.answered {
            prop_assert_eq!(
                gateway.exchange.request().upgrade(),
                agent.exchange.request().upgrade()
            );
        }
        for exchange in [gateway.exchange, agent.exchange] {
            if exchange.request().upgrade() == hopgate_protocol::Upgrade::Switched
                && exchange.request().state().takes_data()
            {
                prop_assert_eq!(exchange.request().state(), SideState::Pipe);
            }
            assert_closed_takes_nothing(exchange)?;
        }
    }

    #[test]
    fn a_well_formed_direction_is_accepted_and_a_stray_frame_changes_nothing(
        chunks in prop::collection::vec(arb_data(), 0..6),
        trailers in prop::collection::vec(arb_header(), 0..3),
        reset_at in prop::option::of(0usize..10),
        stray in arb_frame(),
        stray_at in 0usize..10,
    ) {
        let mut sequence = vec![Frame::RequestHead(request_head(false))];
        sequence.extend(chunks.into_iter().map(Frame::BodyChunk));
        sequence.push(Frame::EndOfBody(EndOfBody { trailers }));
        if let Some(at) = reset_at {
            sequence.truncate(at.min(sequence.len()));
            sequence.push(Frame::Reset(Reset::new(ResetCode::Cancelled, "gone")));
        }
        let mut side = RequestSide::new();
        for (at, frame) in sequence.iter().enumerate() {
            if at == stray_at {
                let before = side;
                let mut probe = side;
                if probe.on_frame(&stray).is_err() {
                    prop_assert_eq!(probe, before, "a refused frame changed the state");
                }
            }
            prop_assert!(side.on_frame(frame).is_ok(), "{:?} refused at {}", frame, at);
        }
        prop_assert!(side.on_fin().is_ok());
        prop_assert!(side.state().is_closed());
        let mut after = side;
        prop_assert!(after.on_frame(&stray).is_err());
    }
}
