"""The solver: which driver, toolkit, torch build and vLLM release work together on a GPU.

    >>> from gpufleet.gpus import lookup
    >>> stack = resolve(lookup("Tesla V100-SXM2-32GB"), pins=Pins(vllm="0.8.5.post1"))
    >>> stack.torch, stack.torch_cuda, stack.dtype
    ('2.6.0', 'cu124', 'half')

Candidates are tried newest vLLM first and, per release, PyPI's wheel before the GitHub
release variants, the Pascal index and a source build; the first candidate that passes every
rule in matrix.yaml wins. When none does, IncompatibleStack names the rule, the value and the
source of the most preferred candidate's failure.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpufleet.candidates import Candidate, candidates
from gpufleet.errors import IncompatibleStack
from gpufleet.gpus import GpuModel
from gpufleet.matrix import Matrix, Toolkit, cc_version, cuda_of_variant, load, major_minor
from gpufleet.pins import Pins, check_pins, no_candidate

__all__ = ["IncompatibleStack", "Pins", "Stack", "pick_dtype", "resolve", "runs_on"]


@dataclass(frozen=True)
class Stack:
    driver_branch: str
    driver_version: str
    driver_module: str  # "open" | "proprietary"
    cuda_toolkit: str  # "12.4"
    cuda_toolkit_version: str  # "12.4.1"
    cuda_runfile: str
    torch: str
    torch_cuda: str
    vllm: str
    vllm_source: str
    xformers: str | None
    xformers_build: bool
    python: str
    dtype: str
    triton_pascal: bool = False
    reasons: tuple[str, ...] = ()

    @property
    def env_name(self) -> str:
        """One conda env per stack: "vllm-0.8.5.post1-torch-2.6.0-cu124"."""
        return f"vllm-{self.vllm}-torch-{self.torch}-{self.torch_cuda}"

    def contract(self) -> dict:
        """The `stack` object of `gpufleet plan --json` (DESIGN.md)."""
        keys = ("driver_branch", "driver_version", "cuda_toolkit", "torch", "torch_cuda", "vllm")
        more = ("vllm_source", "xformers", "xformers_build", "python", "dtype")
        return {key: getattr(self, key) for key in keys + more}

    def as_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["reasons"] = list(self.reasons)
        data["env_name"] = self.env_name
        return data


def resolve(
    gpu: GpuModel, os: str | None = None, pins: Pins | None = None, matrix: Matrix | None = None
) -> Stack:
    """The newest stack that runs on `gpu` (and `os`, when given) and honours `pins`."""
    matrix = matrix or load()
    pins = pins or Pins()
    _check_os_known(matrix, os)
    check_pins(matrix, gpu, pins)
    failures: list[IncompatibleStack] = []
    for candidate in candidates(matrix, gpu, pins):
        try:
            return _stack(matrix, gpu, os, pins, candidate)
        except IncompatibleStack as failure:
            failures.append(failure)
    if not failures:
        raise no_candidate(matrix, gpu, pins)
    raise failures[0]


def _check_os_known(matrix: Matrix, os: str | None) -> None:
    if os is not None and os not in matrix.os_glibc:
        known = ", ".join(sorted(matrix.os_glibc))
        raise IncompatibleStack(
            "os-known", os, f"unknown OS {os!r}; known: {known}", "matrix.yaml os_glibc"
        )


def _stack(matrix: Matrix, gpu: GpuModel, os: str | None, pins: Pins, c: Candidate) -> Stack:
    label = f"{gpu.name} ({gpu.sm}) with vLLM {c.vllm.version} [{c.source}]"
    _check_min_cc(gpu, c, label)
    _check_torch_arch(gpu, c, label)
    driver = _pick_driver(matrix, gpu, pins, c.variant, label)
    toolkit = _pick_toolkit(matrix, gpu, pins, c, driver[1], label)
    python = _pick_python(matrix, pins, c, label)
    _check_os(matrix, os, c, label)
    xformers_build = _xformers_needs_build(matrix, gpu, c.vllm.xformers)
    branch = matrix.driver_branch(driver[0])
    module = (
        "open"
        if cc_version(gpu.compute_capability) >= cc_version(branch.open_module_min_cc)
        else "proprietary"
    )
    stack = Stack(
        driver_branch=driver[0],
        driver_version=driver[1],
        driver_module=module,
        cuda_toolkit=toolkit.short,
        cuda_toolkit_version=toolkit.version,
        cuda_runfile=toolkit.runfile,
        torch=c.vllm.torch,
        torch_cuda=c.variant,
        vllm=c.vllm.version,
        vllm_source=c.source,
        xformers=c.vllm.xformers,
        xformers_build=xformers_build,
        python=python,
        dtype=pick_dtype(matrix, gpu),
        triton_pascal=c.triton_pascal,
    )
    return replace(stack, reasons=tuple(_reasons(matrix, gpu, stack, c)))


def _check_min_cc(gpu: GpuModel, c: Candidate, label: str) -> None:
    if cc_version(gpu.compute_capability) < cc_version(c.min_cc):
        raise IncompatibleStack(
            "vllm-min-cc",
            f"{gpu.sm}",
            f"{label}: {gpu.name} ({gpu.sm}) cannot run vLLM {c.vllm.version} {c.source} "
            f"wheels: minimum compute capability {c.min_cc}",
            c.wheels_source,
        )


def _check_torch_arch(gpu: GpuModel, c: Candidate, label: str) -> None:
    if not runs_on(gpu.compute_capability, c.archs):
        raise IncompatibleStack(
            "torch-arch",
            f"torch {c.vllm.torch}+{c.variant}",
            f"{label}: torch {c.vllm.torch}+{c.variant} wheels are built for "
            f"{';'.join(c.archs)}, not {gpu.sm}",
            c.torch_build.source,
        )


def runs_on(cc: str, archs: tuple[str, ...]) -> bool:
    """Whether a GPU of compute capability `cc` runs code built for `archs`.

    SASS runs on its own cc and on higher minors of the same major (6.1 runs 6.0 code);
    "X+PTX" also carries PTX that any GPU of cc >= X compiles at load time.
    """
    have = cc_version(cc)
    for arch in archs:
        built = cc_version(arch.removesuffix("+PTX"))
        if built.major == have.major and built <= have:
            return True
        if arch.endswith("+PTX") and built <= have:
            return True
    return False


def _xformers_needs_build(matrix: Matrix, gpu: GpuModel, xformers: str | None) -> bool:
    if xformers is None:
        return False
    wheels = matrix.xformers_wheels_for(xformers)
    return wheels is None or not runs_on(gpu.compute_capability, wheels.archs)


def _pick_driver(matrix: Matrix, gpu: GpuModel, pins: Pins, variant: str, label: str):
    cuda = str(cuda_of_variant(variant))
    usable = [d for d in matrix.drivers if d.drives(gpu.compute_capability)]
    if not usable:
        raise IncompatibleStack(
            "driver-drives-gpu", gpu.sm, f"{label}: no driver branch drives {gpu.sm}"
        )
    if pins.driver:  # _check_driver_pin made sure the pinned branch drives the GPU
        usable = [matrix.driver_branch(pins.driver.split(".")[0])]
    fitting = [d for d in usable if d.runs_cuda(cuda)]
    if not fitting:
        best = max(usable, key=lambda d: Version(d.version))
        raise IncompatibleStack(
            "driver-cuda",
            f"CUDA {cuda}",
            f"{label}: torch {variant} needs CUDA {cuda}; driver branch {best.branch} "
            f"runs CUDA <= {best.cuda}",
            best.source,
        )
    chosen = max(fitting, key=lambda d: Version(d.version))
    version = pins.driver if pins.driver and "." in pins.driver else chosen.version
    return chosen.branch, version


def _pick_toolkit(
    matrix: Matrix, gpu: GpuModel, pins: Pins, c: Candidate, driver: str, label: str
) -> Toolkit:
    cuda = cuda_of_variant(c.variant)
    options = [
        t
        for t in matrix.toolkits
        if Version(t.short) <= cuda
        and t.compiles_for(gpu.compute_capability)
        and Version(t.min_driver) <= Version(driver)
    ]
    if pins.cuda_toolkit:
        wanted = major_minor(pins.cuda_toolkit)
        options = [t for t in options if t.short == wanted]
    if not options:
        value = pins.cuda_toolkit or f"<= {cuda}"
        raise IncompatibleStack(
            "toolkit",
            value,
            f"{label}: no CUDA toolkit {value} that is <= torch's CUDA {cuda}, "
            f"compiles for {gpu.sm} and runs on driver {driver}",
            "matrix.yaml cuda_toolkits; rule toolkit-le-torch",
        )
    return max(options, key=lambda t: Version(t.version))


def _pick_python(matrix: Matrix, pins: Pins, c: Candidate, label: str) -> str:
    torch_row = matrix.torch_python_for(c.vllm.torch)
    allowed = SpecifierSet(torch_row.value if torch_row else "")
    allowed &= SpecifierSet(c.vllm.requires_python or "")
    wanted = (pins.python,) if pins.python else matrix.python_preference
    for python in wanted:
        if allowed.contains(Version(python)):
            return python
    raise IncompatibleStack(
        "python",
        pins.python or ",".join(wanted),
        f"{label}: torch {c.vllm.torch} and vLLM need python {allowed}",
        torch_row.source if torch_row else "vllm Requires-Python",
    )


def _check_os(matrix: Matrix, os: str | None, c: Candidate, label: str) -> None:
    row = matrix.torch_glibc_for(c.vllm.torch)
    if os is None or row is None:
        return
    have = matrix.os_glibc[os]
    if Version(have) < Version(row.value):
        raise IncompatibleStack(
            "glibc",
            f"{os} glibc {have}",
            f"{label}: torch {c.vllm.torch} wheels need glibc >= {row.value}; {os} has {have}",
            row.source,
        )


def pick_dtype(matrix: Matrix, gpu: GpuModel) -> str:
    """The serving dtype: the first dtype rule in matrix.yaml that the GPU matches."""
    for rule in matrix.dtype_rules:
        if rule.min_cc and cc_version(gpu.compute_capability) < cc_version(rule.min_cc):
            continue
        if rule.max_fp16_ratio is not None and gpu.fp16_ratio > rule.max_fp16_ratio:
            continue
        return rule.dtype
    raise IncompatibleStack("dtype", gpu.name, f"{gpu.name}: no dtype rule matches")


def _reasons(matrix: Matrix, gpu: GpuModel, stack: Stack, c: Candidate) -> list[str]:
    reasons = [
        f"vLLM {stack.vllm} from {stack.vllm_source}: newest release that runs on {gpu.sm} "
        f"({c.wheels_source})",
        f"torch {stack.torch}+{stack.torch_cuda}: vLLM {stack.vllm} pins torch=={stack.torch} "
        f"and its {stack.vllm_source} wheel is built against the {stack.torch_cuda} build "
        "(rule exact-torch-build)",
        f"driver {stack.driver_version} ({stack.driver_module} module): newest branch that "
        f"drives {gpu.sm} and runs CUDA {cuda_of_variant(stack.torch_cuda)}",
        f"CUDA toolkit {stack.cuda_toolkit}: <= torch's CUDA and compiles for {gpu.sm}",
        f"dtype {stack.dtype}: {_dtype_source(matrix, stack.dtype)}",
    ]
    if stack.xformers_build:
        wheels = matrix.xformers_wheels_for(stack.xformers)
        archs = ";".join(wheels.archs) if wheels else "unknown"
        reasons.append(
            f"xformers {stack.xformers} built from source for {gpu.sm}: its wheels carry {archs}"
        )
    if stack.triton_pascal:
        reasons.append("Pascal build: triton swapped for triton-pascal, torch inductor patched")
    return reasons


def _dtype_source(matrix: Matrix, dtype: str) -> str:
    return next(r.source for r in matrix.dtype_rules if r.dtype == dtype)
