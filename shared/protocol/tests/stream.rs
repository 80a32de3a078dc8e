//! The rules of a request stream, one example each: the order within a direction, resets,
//! the FIN, protocol switches, and how an [`Exchange`] keeps its two directions in step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{request_head, response_head};
use hopgate_protocol::{
    BodyEvent, End, EndOfBody, Exchange, Frame, FrameType, Header, Opening, Ping, RequestSide,
    Reset, ResetCode, ResponseSide, SideState, StreamError, Upgrade,
};

fn chunk(data: &'static [u8]) -> Frame {
    Frame::BodyChunk(Bytes::from_static(data))
}

fn end() -> Frame {
    Frame::EndOfBody(EndOfBody::default())
}

fn reset() -> Frame {
    Frame::Reset(Reset::new(ResetCode::Cancelled, "gone"))
}

#[test]
fn a_direction_is_head_chunks_end_then_fin() {
    let mut side = RequestSide::new();
    assert_eq!(side.state(), SideState::AwaitingHead);
    assert_eq!(side.on_head(&request_head(false)), Ok(SideState::Body));
    assert_eq!(side.on_frame(&chunk(b"a")), Ok(SideState::Body));
    assert_eq!(side.on_frame(&chunk(b"b")), Ok(SideState::Body));
    let trailers = Frame::EndOfBody(EndOfBody {
        trailers: vec![Header::new("x-sum", "1")],
    });
    assert_eq!(side.on_frame(&trailers), Ok(SideState::Ended));
    assert_eq!(side.on_fin(), Ok(SideState::Finished));
    assert!(side.state().is_closed());
}

#[test]
fn frames_out_of_order_are_refused_and_change_nothing() {
    let mut side = RequestSide::new();
    let refused = side.on_frame(&chunk(b"early"));
    assert_eq!(
        refused,
        Err(StreamError::Unexpected {
            frame: FrameType::BodyChunk,
            state: SideState::AwaitingHead
        })
    );
    assert_eq!(side.state(), SideState::AwaitingHead);
    side.on_head(&request_head(false)).unwrap();
    let second_head = side.on_head(&request_head(false));
    assert!(matches!(
        second_head,
        Err(StreamError::Unexpected {
            frame: FrameType::RequestHead,
            ..
        })
    ));
    let wrong_direction = side.on_frame(&Frame::ResponseHead(response_head(200)));
    assert!(matches!(
        wrong_direction,
        Err(StreamError::Unexpected {
            frame: FrameType::ResponseHead,
            ..
        })
    ));
    let control = side.on_frame(&Frame::Ping(Ping { nonce: 1 }));
    assert!(matches!(
        control,
        Err(StreamError::Unexpected {
            frame: FrameType::Ping,
            ..
        })
    ));
    side.on_frame(&end()).unwrap();
    let after_end = side.on_frame(&chunk(b"late"));
    assert_eq!(
        after_end,
        Err(StreamError::Unexpected {
            frame: FrameType::BodyChunk,
            state: SideState::Ended
        })
    );
    assert_eq!(side.state(), SideState::Ended);
    assert_eq!(
        after_end.unwrap_err().to_string(),
        "unexpected BodyChunk frame after EndOfBody"
    );
}

#[test]
fn a_fin_before_end_of_body_cuts_the_direction_off() {
    let mut side = RequestSide::new();
    assert_eq!(
        side.on_fin(),
        Err(StreamError::EndedEarly {
            state: SideState::AwaitingHead
        })
    );
    side.on_head(&request_head(false)).unwrap();
    side.on_data().unwrap();
    let cut = side.on_fin();
    assert_eq!(
        cut,
        Err(StreamError::EndedEarly {
            state: SideState::Body
        })
    );
    assert_eq!(
        cut.unwrap_err().to_string(),
        "the stream ended in the body, without EndOfBody"
    );
}

#[test]
fn a_reset_is_allowed_anywhere_before_the_fin_and_ends_the_direction() {
    let before_head = ResponseSide::new().on_reset();
    assert_eq!(before_head, Ok(SideState::Reset));
    let mut after_end = RequestSide::new();
    after_end.on_head(&request_head(false)).unwrap();
    after_end.on_end().unwrap();
    assert_eq!(after_end.on_frame(&reset()), Ok(SideState::Reset));
    // The FIN may still close the stream; nothing else is accepted.
    assert_eq!(after_end.on_fin(), Ok(SideState::Reset));
    for frame in [
        chunk(b"x"),
        end(),
        reset(),
        Frame::RequestHead(request_head(false)),
    ] {
        let refused = after_end.on_frame(&frame);
        assert_eq!(
            refused,
            Err(StreamError::Closed {
                state: SideState::Reset,
                frame: Some(frame.frame_type())
            })
        );
    }
    let mut finished = RequestSide::new();
    finished.on_head(&request_head(false)).unwrap();
    finished.on_end().unwrap();
    finished.on_fin().unwrap();
    assert!(matches!(
        finished.on_reset(),
        Err(StreamError::Closed { .. })
    ));
    assert_eq!(
        finished.on_fin(),
        Err(StreamError::Closed {
            state: SideState::Finished,
            frame: None
        })
    );
}

#[test]
fn received_frames_come_back_typed() {
    let mut side = RequestSide::new();
    let head = request_head(false);
    assert_eq!(
        side.receive_head(Frame::RequestHead(head.clone())),
        Ok(Opening::Head(head))
    );
    assert_eq!(
        side.receive_body(chunk(b"abc")),
        Ok(BodyEvent::Data(Bytes::from_static(b"abc")))
    );
    assert_eq!(
        side.receive_body(end()),
        Ok(BodyEvent::End(EndOfBody::default()))
    );
    let mut early = ResponseSide::answering(&request_head(false));
    assert!(matches!(early.receive_head(reset()), Ok(Opening::Reset(_))));
    // A head is not a body event, nor a body a head.
    let mut fresh = ResponseSide::answering(&request_head(false));
    assert!(
        fresh
            .receive_body(Frame::ResponseHead(response_head(200)))
            .is_err()
    );
    assert!(fresh.receive_head(chunk(b"x")).is_err());
    assert_eq!(fresh.state(), SideState::AwaitingHead);
}

#[test]
fn an_answer_needs_its_request_and_a_final_status() {
    assert_eq!(
        ResponseSide::new().on_head(&response_head(200)),
        Err(StreamError::AnswerBeforeRequest)
    );
    let plain = ResponseSide::answering(&request_head(false));
    for status in [0, 99, 100, 103, 199, 1000] {
        let mut side = plain;
        assert_eq!(
            side.on_head(&response_head(status)),
            Err(StreamError::InvalidStatus { status }),
            "{status}"
        );
    }
    for status in [200, 204, 404, 502, 999] {
        let mut side = plain;
        assert_eq!(side.on_head(&response_head(status)), Ok(SideState::Body));
    }
}

#[test]
fn only_an_upgrade_request_may_be_answered_101() {
    let mut plain = ResponseSide::answering(&request_head(false));
    assert_eq!(
        plain.on_head(&response_head(101)),
        Err(StreamError::SwitchNotAsked)
    );
    let mut upgrade = ResponseSide::answering(&request_head(true));
    assert_eq!(upgrade.upgrade(), Upgrade::Asked);
    assert_eq!(upgrade.on_head(&response_head(101)), Ok(SideState::Pipe));
    assert_eq!(upgrade.upgrade(), Upgrade::Switched);
    let mut declined = ResponseSide::answering(&request_head(true));
    assert_eq!(declined.on_head(&response_head(426)), Ok(SideState::Body));
    assert_eq!(declined.upgrade(), Upgrade::Declined);
}

#[test]
fn a_101_turns_both_directions_into_a_pipe() {
    for end_at in [End::Gateway, End::Agent] {
        let mut exchange = Exchange::new(end_at);
        let (request_frame, answer_frame) = (
            Frame::RequestHead(request_head(true)),
            Frame::ResponseHead(response_head(101)),
        );
        match end_at {
            End::Gateway => {
                exchange.send(&request_frame).unwrap();
                // The visitor's early bytes may go up before the answer is known.
                exchange.send(&chunk(b"early")).unwrap();
                assert_eq!(exchange.receive(&answer_frame), Ok(SideState::Pipe));
            }
            End::Agent => {
                exchange.receive(&request_frame).unwrap();
                assert_eq!(exchange.send(&answer_frame), Ok(SideState::Pipe));
            }
        }
        assert_eq!(exchange.request().state(), SideState::Pipe, "{end_at:?}");
        assert_eq!(exchange.request().upgrade(), Upgrade::Switched);
        assert!(exchange.request().asks_upgrade());
    }
}

#[test]
fn a_declined_switch_is_an_ordinary_exchange() {
    let mut gateway = Exchange::new(End::Gateway);
    gateway
        .send(&Frame::RequestHead(request_head(true)))
        .unwrap();
    assert_eq!(
        gateway.receive(&Frame::ResponseHead(response_head(400))),
        Ok(SideState::Body)
    );
    assert_eq!(gateway.request().state(), SideState::Body);
    assert_eq!(gateway.request().upgrade(), Upgrade::Declined);
}

#[test]
fn a_reset_either_way_ends_both_directions() {
    let mut agent = Exchange::new(End::Agent);
    agent
        .receive(&Frame::RequestHead(request_head(false)))
        .unwrap();
    agent
        .send(&Frame::ResponseHead(response_head(200)))
        .unwrap();
    agent.receive(&reset()).unwrap();
    assert!(agent.is_over());
    assert!(matches!(
        agent.send(&chunk(b"x")),
        Err(StreamError::Closed { .. })
    ));
    // Closing the stream after a reset is fine.
    assert_eq!(agent.send_fin(), Ok(SideState::Reset));

    let mut gateway = Exchange::new(End::Gateway);
    gateway
        .send(&Frame::RequestHead(request_head(false)))
        .unwrap();
    gateway.receive(&reset()).unwrap();
    assert!(gateway.is_over());
    assert!(matches!(
        gateway.send(&end()),
        Err(StreamError::Closed { .. })
    ));

    let mut broken = Exchange::new(End::Gateway);
    broken
        .send(&Frame::RequestHead(request_head(false)))
        .unwrap();
    broken.abandon();
    assert!(broken.is_over());
}

#[test]
fn the_agent_cannot_answer_before_reading_the_request() {
    let mut agent = Exchange::new(End::Agent);
    assert_eq!(
        agent.send(&Frame::ResponseHead(response_head(200))),
        Err(StreamError::AnswerBeforeRequest)
    );
    // But it may refuse the stream.
    assert_eq!(agent.send(&reset()), Ok(SideState::Reset));
    assert!(agent.is_over());
}

#[test]
fn sides_driven_apart_are_kept_in_step_by_hand() {
    let head = request_head(true);
    let mut request_side = RequestSide::new();
    request_side.on_head(&head).unwrap();
    let mut response_side = ResponseSide::answering(&head);
    response_side.on_head(&response_head(101)).unwrap();
    request_side.learn_upgrade(response_side.upgrade());
    assert_eq!(request_side.state(), SideState::Pipe);
    // What is learnt is not unlearnt.
    request_side.learn_upgrade(Upgrade::NotAsked);
    assert_eq!(request_side.upgrade(), Upgrade::Switched);
}
