"""The solver's refusal: which rule failed, for which value, and where the rule comes from.

>>> str(IncompatibleStack("torch-arch", "torch 2.7.1+cu128", "no sm_70", "build_cuda.sh"))
'no sm_70 (rule: torch-arch; source: build_cuda.sh)'
"""


class IncompatibleStack(Exception):
    """No stack satisfies the rules. `rule`, `value` and `source` say which one and why."""

    def __init__(self, rule: str, value: str, message: str, source: str = ""):
        self.rule, self.value, self.source = rule, value, source
        suffix = f" (rule: {rule}; source: {source})" if source else f" (rule: {rule})"
        super().__init__(message + suffix)
