#!/usr/bin/env bats
# The program is genie-eval (eval is a shell builtin); bin/eval is an alias.
# Help, messages, man pages, README and pipelines all use the name a shell
# runs.
load helper
load quick

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "genie-eval: the program; bin/eval a link to it" {
  [ -f "$ROOT/bin/genie-eval" ] && [ ! -L "$ROOT/bin/genie-eval" ]
  [ "$(readlink "$ROOT/bin/eval")" = genie-eval ]
  quick genie-eval --help
  assert_success
  assert_line --index 0 --regexp "^Usage: genie-eval MODEL.h5 DATA.h5"
  quick "$ROOT/bin/eval" --help          # the alias, by its path (not the builtin)
  assert_success
  assert_line --index 0 --regexp "^Usage: genie-eval "
}

@test "genie-eval: usage and input errors name genie-eval, fail at once, write nothing" {
  quick genie-eval
  assert_failure 2
  assert_output --partial "genie-eval: expected"
  assert_output --partial "Try 'genie-eval --help' for more information."
  quick genie-eval nosuch.h5 test.h5 --logits l.h5
  assert_failure 1
  assert_output "genie-eval: nosuch.h5: No such file or directory"
  run ls -A
  assert_output ""
}

@test "genie-eval: the documented name everywhere (man pages, README, help texts, pipelines)" {
  [ -f "$ROOT/man/man1/genie-eval.1" ]
  run grep -c '^\.so man1/genie-eval\.1$' "$ROOT/man/man1/eval.1"
  assert_output 1
  # no page refers to eval(1), no help text or page says "Usage: eval"
  run grep -rlE '^\.BR eval \(1\)|Usage: eval ' "$ROOT/man" "$ROOT/bin" --include=*.[157] --include=*.c
  assert_output ""
  # no README command line and no pipeline runs a bare `eval` or bin/eval
  run grep -nE '^[[:space:]]*eval |`eval [^`]|bin/eval\b' "$ROOT/README.md"
  assert_output ""
  run grep -rnE 'bin/eval\b|\$\(B\)eval|^[[:space:]]*eval [^"$]' "$ROOT/pipelines"
  assert_output ""
  for p in "$ROOT"/bin/*.c; do
    n=$(basename "$p" .c)
    run "$ROOT/bin/$n" --help
    refute_output --partial "Usage: eval "
  done
}
