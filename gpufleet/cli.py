"""`gpufleet plan | matrix | report` — what would be installed where, and why.

gpufleet plan --gpu "Tesla V100-SXM2-32GB" --vllm 0.8.5.post1 --json
gpufleet plan inventories/lab.py
gpufleet matrix refresh --check
gpufleet report inventories/lab.py --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from gpufleet import refresh, report
from gpufleet.compat import Pins
from gpufleet.config import ConfigError, HostConfig, defaults
from gpufleet.inventory import InventoryError, hosts
from gpufleet.matrix import load
from gpufleet.plan import Plan, plan_gpu, plan_host
from gpufleet.table import render_table

EXIT_OK, EXIT_UNREACHABLE, EXIT_REFUSED = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return EXIT_REFUSED
    return args.func(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gpufleet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers()
    plan = sub.add_parser("plan", help="the stack the solver picks, per GPU or per host")
    plan.add_argument("inventory", nargs="?", help="a pyinfra inventory file")
    plan.add_argument("--gpu", help="GPU name as nvidia-smi prints it, or a PCI id (10de:1db5)")
    plan.add_argument("--vllm", help="pin the vLLM release")
    plan.add_argument("--torch", help="pin torch, optionally with its CUDA variant: 2.6.0+cu124")
    plan.add_argument("--driver", help="pin the driver version or branch")
    plan.add_argument("--cuda", help="pin the CUDA toolkit (12.4)")
    plan.add_argument("--python", help="pin the env's python")
    plan.add_argument("--source", help="pin the vLLM source (pypi, github-release, ...)")
    plan.add_argument("--os", help="target OS id, e.g. ubuntu22.04, debian12")
    plan.add_argument("--json", action="store_true", help="print JSON")
    plan.add_argument(
        "--serving", action="store_true", help="also each server's argv and sizing reasons"
    )
    plan.set_defaults(func=_plan)
    matrix = sub.add_parser("matrix", help="show or refresh gpufleet/matrix.yaml")
    matrix_sub = matrix.add_subparsers()
    show = matrix_sub.add_parser("show", help="the vLLM releases and their pins")
    show.set_defaults(func=_matrix_show)
    matrix.set_defaults(func=_matrix_show)
    fresh = matrix_sub.add_parser("refresh", help="re-read vLLM's torch/xformers pins")
    refresh.add_arguments(fresh)
    fresh.set_defaults(func=refresh.run)
    rep = sub.add_parser("report", help="driver, toolkits, GPUs and apt versions per host")
    rep.add_argument("inventory", help="a pyinfra inventory file")
    rep.add_argument("--packages", help="a,b,c: apt packages (default: report_packages)")
    fmt = rep.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON list, one per host")
    fmt.add_argument("--markdown", action="store_true", help="print GitHub Markdown tables")
    rep.set_defaults(func=_report)
    _perf_parsers(sub)
    return parser


def _perf_parsers(sub) -> None:
    """`tune-moe` and `bench-serving` (README "Serving performance")."""
    tune = sub.add_parser("tune-moe", help="tune fused-MoE configs once per GPU model")
    tune.add_argument("inventory", help="a pyinfra inventory file")
    tune.add_argument("--model", required=True, help="a server/served model name, or a dir")
    tune.add_argument("--tp", type=int, help="tensor parallel size (default: the server's)")
    tune.add_argument("--limit", help="a,b: only these hosts")
    tune.add_argument("--configs-dir", help="default: the moe_configs_dir setting")
    tune.add_argument("--data", action="append", default=[], help="KEY=VALUE, as pyinfra's")
    tune.set_defaults(func=_tune_moe)
    bench = sub.add_parser("bench-serving", help="benchmark each server; compare stacks")
    bench.add_argument("inventory", nargs="?", help="a pyinfra inventory file")
    bench.add_argument("--limit", help="a,b: only these hosts")
    bench.add_argument("--results-dir", help="<host>.jsonl files (default: bench_results_dir)")
    bench.add_argument("--compare", action="store_true", help="last two stacks of each host")
    bench.add_argument("--num-prompts", type=int, help="override bench_workload num_prompts")
    bench.add_argument("--data", action="append", default=[], help="KEY=VALUE, as pyinfra's")
    bench.set_defaults(func=_bench_serving)


def _limit(value: str | None) -> set[str] | None:
    return {h.strip() for h in value.split(",") if h.strip()} if value else None


def _data(pairs: list[str]) -> dict:
    """`--data KEY=VALUE` as pyinfra reads it: JSON when the value parses as JSON, else text."""
    data = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            data[key] = json.loads(value)
        except ValueError:
            data[key] = value
    return data


def _tune_moe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gpufleet import moe

    configs = Path(args.configs_dir) if args.configs_dir else None  # else moe_configs_dir
    try:
        jobs = moe.plan_jobs(
            args.inventory, args.model, args.tp, _limit(args.limit), _data(args.data)
        )
    except (InventoryError, moe.MoeError, ConfigError) as exc:
        print(f"gpufleet tune-moe: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    failed = 0
    for job in jobs:
        label = f"{job.gpu} vLLM {job.vllm} TP {job.tp} {job.dtype}: {job.file_name}"
        if job.path(configs).is_file():
            print(f"{label}: up to date")
            continue
        try:
            path = moe.tune(args.inventory, job, configs)
        except moe.MoeError as exc:
            print(f"gpufleet tune-moe: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{label}: tuned on {job.host} -> {path}")
    return EXIT_UNREACHABLE if failed else EXIT_OK


def _bench_serving(args: argparse.Namespace) -> int:
    from gpufleet import benchserve

    if args.compare:
        folder = args.results_dir or defaults()["bench_results_dir"]
        threshold = defaults()["bench_regression_pct"]
        print(benchserve.render_compare(folder, _limit(args.limit), threshold))
        return EXIT_OK
    if not args.inventory:
        return _usage("bench-serving needs an inventory (or --compare)")
    try:
        records = benchserve.run_inventory(
            args.inventory, args.results_dir, _limit(args.limit), args.num_prompts, _data(args.data)
        )
    except (InventoryError, ConfigError) as exc:
        print(f"gpufleet bench-serving: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(benchserve.render_table(records))
    return EXIT_OK if all(r["errors"] == 0 and r["completed"] for r in records) else 1


def _plan(args: argparse.Namespace) -> int:
    if args.inventory and args.gpu:
        return _usage("give either an inventory or --gpu, not both")
    if args.gpu:
        return _plan_one(args)
    if args.inventory:
        return _plan_inventory(args)
    return _usage("give an inventory file or --gpu NAME|PCI_ID")


def _usage(message: str) -> int:
    print(f"gpufleet plan: {message}", file=sys.stderr)
    return EXIT_REFUSED


def _plan_one(args: argparse.Namespace) -> int:
    pins = Pins(
        vllm=args.vllm,
        torch=args.torch,
        driver=args.driver,
        cuda_toolkit=args.cuda,
        python=args.python,
        vllm_source=args.source,
    )
    plan = plan_gpu(args.gpu, pins, os=args.os)
    if args.json:
        print(json.dumps(plan.contract(), indent=2))
    elif plan.ok:
        print(render_table([_row(plan)], _HEADERS))
        for reason in plan.reasons:
            print(f"  - {reason}")
    else:
        print(f"refused: {plan.error}", file=sys.stderr)
    return EXIT_OK if plan.ok else EXIT_REFUSED


def _plan_inventory(args: argparse.Namespace) -> int:
    plans, serving = [], {}
    try:
        inventory = hosts(args.inventory)
    except InventoryError as exc:
        return _usage(str(exc))
    for name, get in inventory:
        try:
            plans.append(plan_host(HostConfig.from_data(name, get), os=args.os))
        except ConfigError as exc:
            plans.append(Plan(name, None, None, str(exc)))
        if plans[-1].ok:
            serving[name] = _serving(plans[-1], get)
    if args.json:
        print(
            json.dumps(
                [{**p.contract(), "serving": serving.get(p.host, [])} for p in plans], indent=2
            )
        )
    else:
        print(render_table([_row(p) for p in plans], _HEADERS))
        for host, lines in serving.items() if args.serving else ():
            print(f"\n{host} serving:" if lines else "", *(f"  - {ln}" for ln in lines), sep="\n")
    return EXIT_OK if all(p.ok for p in plans) else EXIT_REFUSED


def _serving(plan: Plan, get) -> list[str]:
    """Each server's command line and the reasons behind its sized numbers (tasks/services.py)."""
    from gpufleet.serve import server_specs
    from gpufleet.services import describe, plan_server

    config = HostConfig.from_data(plan.host, get)
    lines = []
    try:
        for spec in server_specs(plan.host, get):
            manifest = None  # sizing reads config.json from model_source; no checksums needed
            lines += describe(plan_server(spec, plan.gpu, plan.stack, config, manifest), plan.stack)
    except (ConfigError, ValueError) as exc:
        lines.append(f"serving refused: {exc}")
    return lines


_HEADERS = ("host", "gpu", "driver", "toolkit", "torch", "vllm", "source", "dtype")


def _row(plan: Plan) -> tuple[str, ...]:
    gpu = f"{plan.gpu.name} ({plan.gpu.sm})" if plan.gpu else "?"
    host = plan.host or "-"
    if not plan.ok:
        return (host, gpu, f"REFUSED: {plan.error}")
    s = plan.stack
    return (
        host,
        gpu,
        f"{s.driver_version} ({s.driver_module})",
        s.cuda_toolkit,
        f"{s.torch}+{s.torch_cuda}",
        s.vllm,
        s.vllm_source,
        s.dtype,
    )


def _report(args: argparse.Namespace) -> int:
    # Imported here: it patches ssl through gevent (pyinfra's CLI does), which only this needs.
    from gpufleet.remote import gather

    if args.packages is not None:
        packages = [p.strip() for p in args.packages.split(",") if p.strip()]
    else:
        packages = defaults()["report_packages"]
    try:
        rows = report.build_reports(gather(args.inventory, report.fact_spec(packages)))
    except InventoryError as exc:
        print(f"gpufleet report: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    if args.json:
        print(report.to_json(rows))
    elif args.markdown:
        print(report.render_markdown(rows))
    else:
        print(report.render_text(rows))
    return EXIT_OK if all(r.ok for r in rows) else EXIT_UNREACHABLE


def _matrix_show(args: argparse.Namespace) -> int:
    matrix = load()
    rows = []
    for release in matrix.vllm_releases:
        wheels = matrix.vllm_wheels_for(release.version)
        rows.append(
            (
                release.version,
                release.torch or "-",
                release.xformers or "-",
                wheels.pypi if wheels else "-",
                ",".join(wheels.github) if wheels else "-",
                wheels.min_cc if wheels else "-",
            )
        )
    headers = ("vllm", "torch", "xformers", "pypi cuda", "github cuda", "min cc")
    print(render_table(rows, headers))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
