"""Stand-in for vLLM's `vllm` console script (sandbox only: the real one needs a GPU and the
real package). `vllm serve MODEL [flags]` parses the flags the installed version knows (a flag
that version does not have fails with argparse's own error, like the real CLI) and starts the
stand-in OpenAI-compatible server of vllm.entrypoints.openai.api_server.
"""

import argparse
import sys

from vllm import __version__
from vllm.entrypoints.openai import api_server
from vllm.entrypoints.openai.cli_args import make_arg_parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="vllm", description="vLLM CLI (gpufleet stand-in)")
    parser.add_argument("-v", "--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="subparser", required=True)
    serve = sub.add_parser("serve", usage="vllm serve [model_tag] [options]")
    serve.add_argument("model_tag", help="The model tag to serve")
    make_arg_parser(serve, __version__, positional_model=True)
    args = parser.parse_args(argv)
    args.model = args.model_tag
    return api_server.run(args)


if __name__ == "__main__":
    sys.exit(main())
