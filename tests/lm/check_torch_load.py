"""Loads a recur language-model checkpoint into PyTorch modules and evaluates it.

Usage: check_torch_load.py CHECKPOINT_DIR DATA_FILE VALID_FRACTION EVAL_BATCH EVAL_BPTT

Reads CHECKPOINT_DIR/model.safetensors with a minimal safetensors reader (so that only PyTorch
is needed), builds nn.Embedding -> nn.LSTM / nn.GRU / nn.RNN -> nn.Linear from the metadata,
loads the weights with strict=True under recur's names, and prints the validation loss in nats
per symbol (character, byte or word), computed exactly as recur's evaluation does (examples/lm/data.h, EvalChunks):
the last VALID_FRACTION of the tokens, B = min(EVAL_BATCH, N - 1) streams of L = (N - 1) // B
inputs, chunks of EVAL_BPTT steps with the hidden state carried.
"""
import json
import re
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_size])
    metadata = header.pop("__metadata__", {})
    base = 8 + header_size
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = bytearray(data[base + begin:base + end])
        tensor = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]) if raw else torch.empty(0)
        tensors[name] = tensor.reshape(entry["shape"]).clone()
    return tensors, metadata


class LanguageModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        rnn = config["rnn"]
        self.embedding = nn.Embedding(config["vocab_size"], config["embedding_dim"])
        kwargs = dict(num_layers=rnn["num_layers"], bias=rnn["bias"], dropout=rnn["dropout"])
        if rnn["mode"] == "lstm":
            self.rnn = nn.LSTM(rnn["input_size"], rnn["hidden_size"], proj_size=rnn["proj_size"], **kwargs)
        elif rnn["mode"] == "gru":
            self.rnn = nn.GRU(rnn["input_size"], rnn["hidden_size"], **kwargs)
        else:
            nonlinearity = "tanh" if rnn["mode"] == "rnn_tanh" else "relu"
            self.rnn = nn.RNN(rnn["input_size"], rnn["hidden_size"], nonlinearity=nonlinearity, **kwargs)
        out = rnn["proj_size"] if rnn["proj_size"] > 0 else rnn["hidden_size"]
        self.head = nn.Linear(out, config["vocab_size"])
        if config.get("tie_weights"):
            self.head.weight = self.embedding.weight

    def forward(self, tokens, state):
        output, state = self.rnn(self.embedding(tokens), state)
        return self.head(output), state


def encode(text_bytes, vocab):
    if vocab["kind"] == "words":  # examples/lm/word_tokenizer.h
        ids = {w: i for i, w in enumerate(vocab["words"])}
        letter = "A-Za-z0-9\u0080-\U0010ffff"
        words = re.findall(f"[{letter}]+(?:'[{letter}]+)*|<unk>|<eol>|\n|[^ \t\r\v\f]", text_bytes.decode("utf-8"))
        return [ids["<eol>"] if w == "\n" else ids.get(w, 0) for w in words]
    symbols = vocab["symbols"]
    ids = {s: i for i, s in enumerate(symbols)}
    if vocab["kind"] == "bytes":
        return [ids[b] for b in text_bytes]
    return [ids[ord(c)] for c in text_bytes.decode("utf-8")]


def main():
    checkpoint, data_path, valid_fraction, batch, bptt = sys.argv[1:6]
    tensors, metadata = load_safetensors(checkpoint + "/model.safetensors")
    config = json.loads(metadata["model"])
    vocab = json.loads(metadata["vocab"])
    if config.get("tie_weights"):  # saved once
        tensors["head.weight"] = tensors["embedding.weight"]
    model = LanguageModel(config)
    model.load_state_dict(tensors, strict=True)
    model.eval()

    with open(data_path, "rb") as f:
        tokens = encode(f.read(), vocab)
    valid_count = int(len(tokens) * float(valid_fraction))
    valid = torch.tensor(tokens[len(tokens) - valid_count:], dtype=torch.int64)
    n = valid.numel()
    streams = min(int(batch), n - 1)
    length = (n - 1) // streams
    inputs = valid[:streams * length].reshape(streams, length).t()
    targets = valid[1:streams * length + 1].reshape(streams, length).t()
    total, state = 0.0, None
    with torch.no_grad():
        for start in range(0, length, int(bptt)):
            logits, state = model(inputs[start:start + int(bptt)], state)
            chunk_targets = targets[start:start + int(bptt)]
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk_targets.reshape(-1),
                                               reduction="sum")
            total += loss.double().item()
    print(f"{total / (streams * length):.9f}")


if __name__ == "__main__":
    main()
