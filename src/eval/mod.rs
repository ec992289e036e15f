//! Evaluation against gold records (see issue 4).
