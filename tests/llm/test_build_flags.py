"""The CMake flags llama.cpp is built with: this CPU's instruction sets, never AMX."""

from __future__ import annotations

from app.llm.build_flags import cmake_args, cpu_flags

AMX_VM = (
    "processor\t: 0\n"
    "flags\t\t: fpu sse4_2 avx avx2 fma f16c bmi2 "
    "avx512f avx512cd avx512vl avx512dq avx512bw amx_tile amx_int8\n"
)


def test_a_cpu_that_lists_amx_gets_its_avx512_but_never_amx() -> None:
    args = cmake_args(cpu_flags(AMX_VM))
    assert args[0] == "-DGGML_NATIVE=OFF"
    assert "-DGGML_AVX512=ON" in args and "-DGGML_AVX2=ON" in args
    assert "-DGGML_AVX512_VNNI=OFF" in args  # not listed: not used
    assert {"-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"} <= set(args)


def test_avx512_needs_every_one_of_its_parts() -> None:
    args = cmake_args({"avx", "avx2", "avx512f"})
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX=ON" in args


def test_a_cpu_without_x86_flags_keeps_llama_cpps_own_choice() -> None:
    assert cmake_args(cpu_flags("processor\t: 0\nFeatures\t: fp asimd\n")) == []
