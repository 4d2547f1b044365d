// The trigger of NT-ASGD, non-monotonically triggered averaged SGD (Merity, Keskar and Socher,
// "Regularizing and Optimizing LSTM Language Models", 2017): averaging starts at the first
// evaluation whose validation loss is worse than the best of the evaluations made more than
// `nonmono` evaluations before it. With `previous` the losses of the earlier evaluations, t of
// them (the paper's `logs`, its reference code's `best_val_loss`),
//
//   trigger  <=>  t > nonmono  and  loss > min(previous[0 .. t - nonmono))
//
// A NaN loss never triggers (nor counts as a minimum: NaN compares false).
#pragma once

#include <cstdint>
#include <vector>

namespace recur::optim {

bool nonmono_triggered(const std::vector<double>& previous, double loss, int64_t nonmono);

// The index of the evaluation in `losses` at which the rule first triggers, each judged against
// those before it; -1 when it never does.
int64_t nonmono_trigger_index(const std::vector<double>& losses, int64_t nonmono);

}  // namespace recur::optim
