"""Stand-in package (sandbox only): see layers/fused_moe/tuning.py."""
