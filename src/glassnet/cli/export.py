"""``glassnet export RUN_OR_MODEL --onnx model.onnx [--safetensors]``: a trained model for
other runtimes (see glassnet.export)."""
from glassnet.cli.common import EXIT_OK, CLIError


def add_parser(subparsers):
    text = "write a trained model as ONNX (for ONNX Runtime) and/or .safetensors weights"
    p = subparsers.add_parser("export", help=text, description=text)
    p.add_argument("target", metavar="RUN_OR_MODEL", help="a run folder or a model .npz file")
    p.add_argument("--onnx", metavar="FILE", help="write the model as an ONNX graph here")
    p.add_argument("--safetensors", action="store_true",
                   help="also write the weights as .safetensors next to model.npz")
    p.set_defaults(func=cmd_export)


def cmd_export(args):
    from glassnet.export.onnx import OPSET
    from glassnet.export.run import export_run
    if args.onnx is None and not args.safetensors:
        raise CLIError("nothing to export: give --onnx FILE, --safetensors, or both")
    try:
        result = export_run(args.target, args.onnx, args.safetensors)
    except (ValueError, OSError) as exc:
        raise CLIError(f"cannot export {args.target!r}: {exc}") from None
    model = type(result["model"]).__name__
    shape = ", ".join(map(str, result["input_shape"]))
    if result["source"] == "run":
        print(f"{model} from run {args.target}: the ONNX model takes float32 (N, {shape}) "
              f"exactly as load_dataset({result['data']!r}) returns it; preprocessing in "
              f"the graph: {result['preprocess']}")
    else:
        print(f"{model} from model file {args.target}: no run, so no data set and no "
              f"preprocessing; the ONNX model takes the model's own input, float32 "
              f"(N, {shape})")
    if result["onnx"] is not None:
        print(f"wrote {result['onnx']} (ONNX opset {OPSET}, input 'input', output 'scores'; "
              f"ops: {', '.join(result['ops'])})")
    if result["safetensors"] is not None:
        print(f"wrote {result['safetensors']}")
    return EXIT_OK
