// recur rnn-eval CASE.safetensors OUT.safetensors [--device cpu|cuda] [--impl auto|cells|fused]
//
// Runs an RNN case (the contract in examples/rnn_case.h: options in the metadata, x, optional h0/c0,
// lengths, dy, dhn, dcn and the weights under PyTorch's names) forward and backward, and writes
// y, hn, cn and every gradient to OUT. Used to cross-check recur against PyTorch and one device
// against another.
#include <fmt/format.h>

#include "examples/command.h"
#include "examples/rnn_case.h"
#include "nn/safetensors.h"

namespace recur::cli {

Command add_rnn_eval_command(CLI::App& parent) {
  struct Options {
    std::string case_path, out_path, device = "cpu", impl = "auto";
  };
  auto options = std::make_shared<Options>();
  CLI::App* app = parent.add_subcommand("rnn-eval", "Run an RNN case file forward and backward, write the results");
  app->add_option("case", options->case_path, "the case (safetensors)")->required();
  app->add_option("out", options->out_path, "where to write y, hn, cn and the gradients (safetensors)")->required();
  app->add_option("--device", options->device, "cpu or cuda[:N]");
  app->add_option("--impl", options->impl, "auto, cells or fused (the CPU implementation)")
      ->check(CLI::IsMember({"auto", "cells", "fused"}));
  return {app, [options] {
            const Device device = Device::parse(options->device);
            const nn::RNNImpl impl = nn::parse_impl(options->impl);
            nn::SafetensorsFile file = nn::load_safetensors(options->case_path);
            nn::StateDict result;
            try {
              result = rnn_case::evaluate(file.tensors, file.metadata, device, impl);
            } catch (const Error& e) {
              throw Error(fmt::format("{}: {}", options->case_path, e.what()));
            }
            std::map<std::string, std::string> metadata = file.metadata;
            metadata["device"] = device.str();
            metadata["impl"] = options->impl;
            nn::save_safetensors(options->out_path, result, metadata);
            fmt::print("{}: {} tensors written to {}\n", options->case_path, result.size(), options->out_path);
            return 0;
          }};
}

}  // namespace recur::cli
