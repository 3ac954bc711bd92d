//! Meta federated learning (§A.2, Fig. 6 of the paper): the clients whose parameters an aggregation
//! policy averages.
//!
//! * [`client`]: the client models — the paper's one-layer convolutional network ([`ConvNet`]:
//!   5×5 convolution with 32 channels, ReLU, dense softmax output) and a softmax regression for quick
//!   runs ([`SoftmaxRegression`]) — behind the [`ClientModel`] trait, with hand-written backward
//!   passes (checked against forward-mode autodiff in `tests/federated_client.rs`), local
//!   minibatch SGD ([`sgd_epoch`], in parallel over the clients of a round with
//!   [`local_training`]) and aggregation by a weighted average of parameters
//!   ([`weighted_average`]).

pub mod client;
mod conv;
pub mod fedavg;
pub mod partition;

pub use client::{
    local_training, mean_cross_entropy, sgd_epoch, weighted_average, ClientModel, ConvNet, SoftmaxRegression,
    Workspace,
};
pub use fedavg::{rare_half_weights, run_federated, run_federated_with, FedConfig, WeightsRule};
pub use partition::{dirichlet, draw_skewed_task, paper_skew, skewed_universe, Partition, SkewedUniverse};
