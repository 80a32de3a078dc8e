//! The data-plane's tests run its library in the test's own process (`in_process`) where
//! the process boundary isn't the point, and its binary where it is; both behind the
//! end-to-end harness's [`DataPlane`] handle, with the same stand-in agent.

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod in_process;

pub use hopgate_e2e::{
    DataPlane, FakeAgent, KEY, TempDir, fake_agent, fake_agent_with, field, poll_until,
    raw_visitor, serve,
};
pub use in_process::InProcess;
