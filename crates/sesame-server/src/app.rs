//! The state every handler shares, and the bounds on what a request may carry.

use crate::config::Config;
use crate::{limits, metrics, state};
use state::ChallengeState;
use std::sync::Arc;
use url::Url;

pub(crate) const MAX_REQUEST_BODY: usize = 16 * 1024;
pub(crate) const MAX_USER_LEN: usize = 256;
pub(crate) const MAX_STATE_LEN: usize = 512;

/// What every handler shares: the settings, the public URL, the challenges, the limits and the
/// metrics.
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) base: Url,
    pub(crate) challenges: Arc<dyn ChallengeState>,
    pub(crate) guesses: limits::Guesses,
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// STS, when a role mapping was given.
    pub(crate) sts: Option<Arc<dyn crate::aws_sts::AssumeRole>>,
}

impl App {
    /// Whether requests and decisions are logged.
    pub(crate) fn log(&self) -> bool {
        self.config.log
    }
}
