# aarch64: cross-build the patched tree for aarch64-linux-gnu and run it
# under qemu-aarch64 with BTI and PAC enforced (tools/check-aarch64.sh).
#
#   make check-aarch64          build build-aarch64/ if needed, then run
#                               the checks (a few minutes)
#   make check-aarch64-break    the same with a deliberately broken stub,
#                               AARCH64_BREAK=bti (default), x29, link or
#                               pac; passes only if the checks catch it
#   make clean-aarch64          remove build-aarch64/ (make clean does too)
#
# AARCH64_PYTESTS (default "test_sys test_embed") and AARCH64_PYTEST_TIMEOUT
# are passed through the environment.

AARCH64_BREAK ?= bti

.PHONY: check-aarch64 check-aarch64-break clean-aarch64

check-aarch64: all
	tools/check-aarch64.sh

check-aarch64-break: all
	tools/check-aarch64.sh --break-stub=$(AARCH64_BREAK)

clean-aarch64:
	rm -rf build-aarch64

clean: clean-aarch64
