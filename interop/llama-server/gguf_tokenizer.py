#!/usr/bin/env python3
"""Writes the tokenizer.json of a GGUF model from the tokenizer the GGUF file itself carries.

    gguf_tokenizer.py MODEL.gguf OUT/tokenizer.json

Reads only the file's metadata (vocabulary, merges, token types, pre-tokenizer name) with the
`gguf` package and converts it with the Hugging Face `transformers` GGUF converter into a
`tokenizers` tokenizer. No tensors are read, so PyTorch is not needed (transformers checks for
it up front; the check is lifted for this metadata-only read).
"""

import sys

import transformers.modeling_gguf_pytorch_utils as gguf_utils
from transformers.integrations.ggml import convert_gguf_tokenizer


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    model, out = argv[1], argv[2]
    gguf_utils.is_torch_available = lambda: True  # metadata only: torch is never used
    parsed = gguf_utils.load_gguf_checkpoint(model, return_tensors=False)
    arch = parsed["config"]["model_type"]
    tok, _ = convert_gguf_tokenizer(arch, parsed["tokenizer"])
    tok.save(out)
    print(f"wrote {out}: {tok.get_vocab_size()} tokens, model type {arch}")


if __name__ == "__main__":
    main(sys.argv)
