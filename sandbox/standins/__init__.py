"""Stand-ins the sandbox mirror serves in place of what a CI box cannot fetch or run.

Test infrastructure only (see sandbox/__init__.py); never imported by gpufleet/, tasks/ or
deploy.py. Each module says at its top what it stands in for and why.
"""
