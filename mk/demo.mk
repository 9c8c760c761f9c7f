# make demo: the Flask, Express and C demo servers side by side on one SQLite session store
# (demo/launch.py). Builds what they need first: the Python binding into the venv, the Node
# addon, and the C example server.
#
#   make demo                    the README's defaults, on http://127.0.0.1:8000, :8001, :8002
#   make demo TIMEOUTS=short     idle 60 s, absolute 5 min, rotation 20 s
#                                (also TESSERA_DEMO_TIMEOUTS=short)
#   make demo PORT=9000          Flask on 9000, Express 9001, C 9002; PORT=0: free ports.
#                                A port in use is refused, never silently replaced.
DEMO_C_SERVER := $(C_OUT)/bin/demo-server
DEMO_TARGET := demo-sites
# PORT is also mk/c.mk's (make c-example, default 8080): only a PORT the user gave counts here.
DEMO_PORT := $(if $(filter file undefined,$(origin PORT)),8000,$(PORT))

.PHONY: demo-sites demo-build demo-c-server

## demo-c-server: the C example server (with its --demo site), compiled as the C suite does
demo-c-server: c-deps $(C_OUT)/native-static-libs
	$(CARGO) build -p tessera-c
	@mkdir -p $(dir $(DEMO_C_SERVER))
	gcc -std=c11 -Wall -Wextra -Werror -O1 -g -pthread -I$(C_DIR)/include \
		$(C_DIR)/examples/server.c -o $(DEMO_C_SERVER) $(CARGO_TARGET_DIR)/debug/libtessera.a \
		$$(cat $(C_OUT)/native-static-libs) $$(pkg-config --cflags --libs libmicrohttpd jansson)

## demo-build: everything the three demo servers need
demo-build: python-build node-build demo-c-server

demo-sites: demo-build
	TESSERA_DEMO_C_SERVER=$(DEMO_C_SERVER) TESSERA_DEMO_PYTHON=$(PY) \
		python3 $(ROOT)/demo/launch.py --port $(DEMO_PORT) \
		$(if $(TIMEOUTS),--timeouts $(TIMEOUTS))
