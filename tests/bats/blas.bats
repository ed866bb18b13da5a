#!/usr/bin/env bats
# blas: the OpenBLAS kernel every genie program runs (genie-blas(7)) as
# genie-info reports it: chosen from cpuid when OPENBLAS_CORETYPE is unset,
# a user's setting kept, a kernel that fails the start-up self-test
# replaced (GENIE_BLAS_SELFTEST_FAIL, honoured for testing), and the
# re-execution keeping arguments, stdin, stdout and exit status.
load helper
bats_require_minimum_version 1.5.0

setup() {
  cd "$BATS_TEST_TMPDIR"
  unset GENIE_VERBOSE GENIE_NO_REEXEC GENIE_BLAS_SELFTEST_FAIL GENIE_BLAS_TEST_AUTO GENIE_BLAS_REEXEC
}

# the value of KEY in genie-info output held in $output
key() { sed -n "s/^$1: //p" <<<"$output"; }

# the vector ISA this CPU offers, from the kernel's /proc/cpuinfo flags
# (independent of genie's own cpuid code)
cpu_isa() {
  local f
  f=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  if [[ $f == *" avx512f "* && $f == *" avx512bw "* && $f == *" avx512dq "* && $f == *" avx512vl "* ]]; then
    echo avx512
  elif [[ $f == *" avx2 "* && $f == *" fma "* ]]; then echo avx2
  elif [[ $f == *" avx "* ]]; then echo avx
  else echo sse3; fi
}
# the kernel genie selects for an ISA, and the one below it
isa_kernel() { case $1 in avx512) echo SkylakeX ;; avx2) echo Haswell ;; avx) echo Sandybridge ;; *) echo Prescott ;; esac; }
isa_below() { case $1 in avx512) echo avx2 ;; avx2) echo avx ;; *) echo sse3 ;; esac; }
need_x86() { grep -q '^flags.* sse3\| pni ' /proc/cpuinfo || skip "not an x86 CPU"; }

@test "genie-info --help prints usage and exits 0" {
  run genie-info --help
  assert_success
  assert_output --partial "Usage: genie-info"
}

@test "genie-info: bad option, bad --threads and a stray argument are usage errors" {
  run genie-info --bogus
  assert_failure 2
  assert_output --partial "Try 'genie-info --help'"
  run genie-info --threads 0
  assert_failure 2
  assert_output --partial "--threads"
  run genie-info extra
  assert_failure 2
  assert_output --partial "unexpected argument 'extra'"
}

@test "genie-info prints the OpenBLAS build, kernel, threads, CPU features and self-test" {
  run --separate-stderr env OPENBLAS_NUM_THREADS=1 genie-info
  assert_success
  [ -z "$stderr" ]
  [[ $(key openblas_config) == "OpenBLAS "* ]]
  [[ $(key openblas) =~ ^[0-9]+\.[0-9]+ ]]
  [ -n "$(key kernel)" ]
  [ "$(key threads)" = 1 ]
  [ "$(key selftest)" = ok ]
  [ "$(key sgemm)" = openblas ]
  for k in kernel_isa kernel_by openblas_chose openblas_coretype parallel cpu cpu_features cpu_isa cpu_kernel selftest_ms reexecs hdf5; do
    [ -n "$(key $k)" ] || { echo "no $k"; return 1; }
  done
}

@test "genie-info: the CPU features it reports are the ones in /proc/cpuinfo" {
  need_x86
  run genie-info
  feats=" $(key cpu_features) "
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  for f in avx fma avx2 avx512f avx512bw avx512dq avx512vl; do
    a=no; b=no
    [[ $feats == *" $f "* ]] && a=yes
    [[ $flags == *" $f "* ]] && b=yes
    [ "$a" = "$b" ] || { echo "$f: genie-info $a, /proc/cpuinfo $b"; return 1; }
  done
  [ "$(key cpu_isa)" = "$(cpu_isa)" ]
}

@test "OPENBLAS_CORETYPE unset: the kernel is no older than the CPU supports" {
  need_x86
  run env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE genie-info
  assert_success
  isa=$(cpu_isa)
  [ "$(key kernel_isa)" = "$isa" ] || { echo "kernel $(key kernel) is $(key kernel_isa), CPU has $isa"; return 1; }
  case $isa in
    avx512) [[ $(key kernel) =~ ^(SkylakeX|Cooperlake|SapphireRapids)$ ]] ;;
    avx2) [[ $(key kernel) =~ ^(Haswell|Zen|Excavator)$ ]] ;;
  esac
  [ "$(key openblas_coretype)" = - ]
  [[ $(key kernel_by) =~ ^(openblas|genie)$ ]]
}

@test "OPENBLAS_CORETYPE set by the user: that kernel is kept, even an old one" {
  need_x86
  for k in Prescott Haswell; do
    [ "$k" = Haswell ] && [ "$(cpu_isa)" != avx2 ] && [ "$(cpu_isa)" != avx512 ] && continue
    run --separate-stderr env OPENBLAS_CORETYPE=$k GENIE_VERBOSE=1 genie-info
    assert_success
    [ "$(key kernel)" = "$k" ]
    [ "$(key kernel_by)" = user ]
    [ "$(key reexecs)" = 0 ]
    [ "$(key openblas_coretype)" = "$k" ]
    [[ $stderr == *"from OPENBLAS_CORETYPE=$k"* ]]
  done
  # and the note says what the CPU could do instead
  run --separate-stderr env OPENBLAS_CORETYPE=Prescott genie-info -v
  [ "$(cpu_isa)" = sse3 ] || [[ $stderr == *"this CPU could run $(isa_kernel "$(cpu_isa)")"* ]]
}

@test "OpenBLAS choosing an old kernel by itself: genie re-executes with the CPU's and says so once" {
  need_x86
  [ "$(cpu_isa)" != sse3 ] || skip "this CPU has nothing newer than Prescott"
  # GENIE_BLAS_TEST_AUTO: OPENBLAS_CORETYPE=Prescott stands in for OpenBLAS
  # not recognising the CPU (as 0.3.21 does some Zen 5 parts)
  run --separate-stderr env OPENBLAS_CORETYPE=Prescott GENIE_BLAS_TEST_AUTO=1 GENIE_VERBOSE=1 genie-info
  assert_success
  want=$(isa_kernel "$(cpu_isa)")
  [ "$(key kernel)" = "$want" ]
  [ "$(key kernel_by)" = genie ]
  [ "$(key openblas_chose)" = Prescott ]
  [ "$(key reexecs)" = 1 ]
  [ "$(key selftest)" = ok ]
  # the user's environment is put back in the new process
  [ "$(key openblas_coretype)" = Prescott ]
  [ "$(grep -c . <<<"$stderr")" = 1 ]
  [[ $stderr == "genie-info: "*"running $want kernels, chosen by genie"*"OpenBLAS chose Prescott"* ]]
  # not verbose: nothing on stderr
  run --separate-stderr env OPENBLAS_CORETYPE=Prescott GENIE_BLAS_TEST_AUTO=1 genie-info
  [ "$(key kernel)" = "$want" ]
  [ -z "$stderr" ]
}

@test "GENIE_NO_REEXEC=1 leaves OpenBLAS's choice alone" {
  need_x86
  run --separate-stderr env OPENBLAS_CORETYPE=Prescott GENIE_BLAS_TEST_AUTO=1 GENIE_NO_REEXEC=1 GENIE_VERBOSE=1 genie-info
  assert_success
  [ "$(key kernel)" = Prescott ]
  [ "$(key kernel_by)" = openblas ]
  [ "$(key reexecs)" = 0 ]
  [ "$(cpu_isa)" = sse3 ] || [[ $stderr == *"GENIE_NO_REEXEC is set"* ]]
}

@test "a marker genie did not write stops re-execution" {
  need_x86
  run --separate-stderr env OPENBLAS_CORETYPE=Prescott GENIE_BLAS_TEST_AUTO=1 GENIE_BLAS_REEXEC=junk GENIE_VERBOSE=1 genie-info
  assert_success
  [ "$(key kernel)" = Prescott ]
  [ "$(key reexecs)" = 0 ]
  [ "$(cpu_isa)" = sse3 ] || [[ $stderr == *"GENIE_BLAS_REEXEC is set but is not genie's"* ]]
}

@test "self-test failure: genie warns and falls back to the next older kernel" {
  need_x86
  isa=$(cpu_isa)
  [ "$isa" != sse3 ] || skip "no older kernel than Prescott"
  run --separate-stderr env -u OPENBLAS_CORETYPE GENIE_BLAS_SELFTEST_FAIL=1 genie-info
  assert_success
  first=$(key openblas_chose)
  [ "$(key kernel)" = "$(isa_kernel "$(isa_below "$isa")")" ]
  [ "$(key kernel_by)" = fallback ]
  [ "$(key sgemm)" = openblas ]
  [ "$(key selftest)" = ok ]
  [[ $(key selftest_failed) == "$first:"* ]]
  [ "$(grep -c . <<<"$stderr")" = 1 ]
  [[ $stderr == "genie-info: warning: OpenBLAS sgemm self-test failed with $first (relative error "*"); using $(key kernel) kernels instead" ]]
}

@test "self-test failure overrides a user's kernel too, and names can be listed" {
  need_x86
  [[ $(cpu_isa) =~ ^(avx2|avx512)$ ]] || skip "needs an AVX2 CPU"
  run --separate-stderr env OPENBLAS_CORETYPE=Haswell GENIE_BLAS_SELFTEST_FAIL=haswell,Sandybridge genie-info
  assert_success
  [ "$(key kernel)" = Prescott ]
  [ "$(key kernel_by)" = fallback ]
  [ "$(key reexecs)" = 2 ]
  [ "$(key openblas_coretype)" = Haswell ]
  [[ $stderr == *"failed with Haswell (relative error "*"), Sandybridge (relative error "*"); using Prescott kernels instead" ]]
}

@test "every kernel failing: genie's reference sgemm, with a warning; never a wrong answer" {
  run --separate-stderr env GENIE_BLAS_SELFTEST_FAIL=all genie-info
  assert_success
  [ "$(key sgemm)" = reference ]
  [ "$(key kernel_by)" = reference ]
  [ "$(key selftest)" = failed ]
  [[ $stderr == *"using genie's reference sgemm, which is correct but slow" ]]
  # without re-execution the reference takes over in place
  run --separate-stderr env GENIE_NO_REEXEC=1 GENIE_BLAS_SELFTEST_FAIL=1 genie-info
  assert_success
  [ "$(key sgemm)" = reference ]
  [ "$(key reexecs)" = 0 ]
  [[ $stderr == *"GENIE_NO_REEXEC is set; using genie's reference sgemm"* ]]
}

@test "every kernel this CPU can run passes the self-test" {
  need_x86
  ks="Prescott Nehalem Core2 Barcelona"
  case $(cpu_isa) in
    avx512) ks="$ks Sandybridge Haswell Zen SkylakeX" ;;
    avx2) ks="$ks Sandybridge Haswell Zen" ;;
    avx) ks="$ks Sandybridge" ;;
  esac
  for k in $ks; do
    run env OPENBLAS_CORETYPE=$k genie-info
    [ "$(key kernel)" = "$k" ] || { echo "$k: got $(key kernel)"; return 1; }
    [ "$(key selftest)" = ok ] || { echo "$k: self-test $(key selftest)"; return 1; }
  done
}

@test "re-execution keeps stdin, stdout, the arguments and the exit status" {
  need_x86
  [ "$(cpu_isa)" != sse3 ] || skip "no re-execution on this CPU"
  sim="env OPENBLAS_CORETYPE=Prescott GENIE_BLAS_TEST_AUTO=1"
  onnx2h5 -q "$FIX/resnet20_fmnist.onnx" -o plain.h5
  $sim onnx2h5 -q - -o piped.h5 <"$FIX/resnet20_fmnist.onnx"
  cmp plain.h5 piped.h5
  $sim onnx2h5 -q - -o - <"$FIX/resnet20_fmnist.onnx" >streamed.h5
  cmp plain.h5 streamed.h5
  run $sim h5cat --bogus
  assert_failure 2
  assert_output --partial "Try 'h5cat --help'"
  run $sim h5cat missing.h5 -o out.h5
  assert_failure 1
  run $sim "$ROOT/bin/genie-eval" --help
  assert_success
  assert_output --partial "Usage:"
}

@test "genie-info --bench measures sgemm" {
  run genie-info --bench --threads 1
  assert_success
  [ "$(key threads)" = 1 ]
  awk -v g="$(key sgemm_gflops)" 'BEGIN { exit !(g > 0) }'
  # -b is --batch in the other programs, so genie-info has no -b
  run genie-info -b
  assert_failure 2
  assert_output --partial "Try 'genie-info --help'"
}

@test "genie-info: bf16 products available as /proc/cpuinfo says, off with GN_NO_BF16=1; fp32 the default" {
  run genie-info
  assert_success
  f=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  want="no (the CPU has no avx512_bf16)"
  [[ $f == *" avx512_bf16 "* && $f == *" avx512bw "* && $f == *" avx512f "* ]] && want=yes
  [ "$(key bf16_products)" = "$want" ]
  [ "$(key distill_products)" = fp32 ]
  run env GN_NO_BF16=1 genie-info
  [[ $(key bf16_products) == no* ]]
}
