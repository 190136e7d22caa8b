"""`lockstep model`: write generated models as ONNX (docs/models.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from compiler.errors import LockstepError
from compiler.models.llama import PRESETS, write_llama
from compiler.models.resnet import PRESETS as RESNET_PRESETS
from compiler.models.resnet import write_resnet


def add_model_parser(commands) -> None:
    models = commands.add_parser("model", help="generate a model as ONNX (Llama-family decoders, ResNet)")
    kinds = models.add_subparsers(dest="kind", required=True)
    llama = kinds.add_parser("llama", help="a Llama decoder step: N layers, final norm, lm_head (docs/models.md)")
    llama.add_argument("--preset", required=True, choices=list(PRESETS), help="published hyper-parameters")
    llama.add_argument("--layers", type=int, help="how many decoder layers (default: the preset's)")
    mode = llama.add_mutually_exclusive_group()
    mode.add_argument("--decode", action="store_true", help="one token after a KV cache of --context (default)")
    mode.add_argument("--prefill", action="store_true", help="--seq tokens from position 0, causal mask")
    llama.add_argument("--context", type=int, metavar="L", help="decode: cached tokens (default: the preset's context)")
    llama.add_argument("--seq", type=int, metavar="S", help="prefill: tokens (default: the preset's context)")
    llama.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    llama.add_argument("--no-weights", action="store_true",
                       help="weights as external data in OUTPUT.data, which is not written (shape only)")
    llama.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    llama.set_defaults(handler=cmd_llama)
    resnet = kinds.add_parser("resnet", help="a ResNet image classifier, torchvision layout (docs/models.md)")
    resnet.add_argument("--preset", required=True, choices=list(RESNET_PRESETS), help="published layout, or tiny")
    resnet.add_argument("--image", type=int, metavar="SIDE", help="input height and width (default: the preset's)")
    resnet.add_argument("--batch", type=int, default=1, help="images per step (default 1)")
    resnet.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    resnet.add_argument("--no-weights", action="store_true",
                        help="weights as external data in OUTPUT.data, which is not written (shape only)")
    resnet.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    resnet.set_defaults(handler=cmd_resnet)


def cmd_llama(args: argparse.Namespace) -> int:
    if args.prefill and args.context is not None:
        raise LockstepError("--context is the decode step's cache length; a prefill takes --seq")
    if not args.prefill and args.seq is not None:
        raise LockstepError("--seq is the prefill's length; a decode step takes --context (or add --prefill)")
    cfg = PRESETS[args.preset]
    layers = cfg.layers if args.layers is None else args.layers
    length = args.seq if args.prefill else args.context
    length = cfg.context if length is None else length
    model = write_llama(args.preset, args.output, layers, decode=not args.prefill, length=length,
                        weights=not args.no_weights, seed=args.seed)
    step = f"prefill of {length}" if args.prefill else f"decode at context {length}"
    where = f"external in {args.output.name}.data, not written" if args.no_weights else "inline"
    size = args.output.stat().st_size / 2**10
    print(f"wrote {args.output} ({size:.0f} KiB): {args.preset}, {layers} layer{'s' * (layers != 1)}, {step}; "
          f"{cfg.graph_params(layers):.4g} parameters in the graph ({where}), "
          f"{cfg.vocab * cfg.hidden:.4g} in the host's embedding table; {len(model.graph.node)} nodes")
    return 0


def cmd_resnet(args: argparse.Namespace) -> int:
    model = write_resnet(args.preset, args.output, args.image, args.batch, weights=not args.no_weights,
                         seed=args.seed)
    cfg = RESNET_PRESETS[args.preset]
    image = cfg.image if args.image is None else args.image
    where = f"external in {args.output.name}.data, not written" if args.no_weights else "inline"
    size = args.output.stat().st_size / 2**10
    print(f"wrote {args.output} ({size:.0f} KiB): {args.preset}, batch {args.batch} of {image}x{image}; "
          f"{cfg.params():,} parameters ({where}); {len(model.graph.node)} nodes")
    return 0
