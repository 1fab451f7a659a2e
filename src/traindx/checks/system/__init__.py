"""System checks: crashes, memory, throughput (codes TDX6xx)."""
