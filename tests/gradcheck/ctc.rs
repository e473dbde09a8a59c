//! Gradient checks of the CTC loss, for its log probabilities directly
//! (any values, not only normalised ones: the op's gradient is the loss's
//! own, not one composed with a log-softmax).

use seq::core::Params;
use seq::train::ctc::{CtcLoss, Reduction};

use crate::support::{assert_gradients, input};

#[test]
fn ctc_loss_per_sequence() {
    // Repeated labels (a blank is forced between them), an empty label, a
    // sequence shorter than the batch's time.
    let lp = input(1, &[3, 7, 4]);
    let targets = [vec![1u32, 1, 2], vec![], vec![3, 2, 3]];
    assert_gradients(&Params::new(0), &[("log_probs", &lp)], || {
        CtcLoss::new()
            .with_reduction(Reduction::None)
            .loss(lp.as_tensor(), &[7, 4, 6], &targets)
    });
}

#[test]
fn ctc_loss_mean_with_the_blank_last() {
    let lp = input(2, &[2, 6, 3]);
    let targets = [vec![0u32, 1], vec![1]];
    assert_gradients(&Params::new(0), &[("log_probs", &lp)], || {
        CtcLoss::new()
            .with_blank(2)
            .loss(lp.as_tensor(), &[6, 5], &targets)
    });
}
