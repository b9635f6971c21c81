# Ecosystem targets: flame graph and install (docs/pyenv.md, docs/install.md).

.PHONY: flamegraph demo-flamegraph install altinstall

# make flamegraph: profile FLAMEGRAPH_PROG with build/python -X perf and
# write an interactive flame graph to FLAMEGRAPH_OUT (tools/flamegraph.py).
FLAMEGRAPH_OUT  ?= dist/flamegraph.html
FLAMEGRAPH_PROG ?= examples/perf_demo.py

flamegraph: all
	tools/demo-flamegraph.sh $(FLAMEGRAPH_OUT) $(FLAMEGRAPH_PROG)

demo-flamegraph: flamegraph

# make install / make altinstall: CPython's install of build/.
#   DESTDIR=DIR   stage under DIR (the interpreter runs from there too).
#   PREFIX=DIR    (make command line only) install prefix; the prefix is
#                 compiled in, so it becomes --prefix=DIR in CONFIGURE_FLAGS
#                 and build/ is rebuilt for it.
#   ENSUREPIP=no  skip pip.
ifeq ($(origin PREFIX),command line)
export INSTALL_PREFIX := $(abspath $(PREFIX))
# /usr/local is configure's default: no need to rebuild for it.
ifneq ($(INSTALL_PREFIX),/usr/local)
CONFIGURE_FLAGS += --prefix=$(INSTALL_PREFIX)
endif
endif
export DESTDIR ENSUREPIP

install: all
	tools/install.sh install

altinstall: all
	tools/install.sh altinstall
