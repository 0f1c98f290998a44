# Loopgate - human-in-the-loop gateway for AI agents.
#
#   make            build build/loopgate
#   make run        install what is missing, start the local stack in the foreground
#   make link       a new one-time admin link to the running local stack's console
#   make schema     regenerate sql/schema.sql from the migrations
#   make check      the same set-up, then every test
#   make check-compat  the previous release (RELEASES) on this tree's schema alone
#   make check-drills  the long drills (minutes of waiting each) kept out of make check
#   make check-ha   several worker hosts in network namespaces on one PostgreSQL,
#                   and a PostgreSQL primary that fails over (docs/DEPLOYMENT.md)
#   make SAN=1 ...  build with AddressSanitizer + UndefinedBehaviorSanitizer (into build/san)
#   make TSAN=1 ... build with ThreadSanitizer (into build/tsan)
#   make fuzz       run every libFuzzer harness of tests/fuzz for FUZZ_SECONDS (300) each
#   make V=1 ...    show the commands
#   make install    the binary, systemd units, nginx site, config, console, man pages
#                   and docs (PREFIX=/usr/local, DESTDIR; see "install" below); make uninstall
#   make deb        build/loopgate_<version>_amd64.deb (packaging/deb/build.sh)
#   make check-dist the package installed, used, removed and purged in a Debian 12 chroot,
#                   and the container image built from it and run (podman)
#   make docker-build  the container image loopgate:latest (Dockerfile; docker or podman)

SHELL       := /bin/bash
CC          ?= cc
SERVER_PORT ?= 8080
export SERVER_PORT

ifeq ($(TSAN),1)
BUILD     := build/tsan
SANFLAGS  := -fsanitize=thread -fno-omit-frame-pointer
OPT       := -O1
else ifeq ($(SAN),1)
BUILD     := build/san
SANFLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT       := -O1
else ifeq ($(DEB),1)
# The Debian package's binary: Debian's hardening flags (dpkg-buildflags).
BUILD     := build/deb
SANFLAGS  :=
BUILDFLAGS = $(shell DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get $(1))
OPT       := $(call BUILDFLAGS,CFLAGS) $(call BUILDFLAGS,CPPFLAGS)
LDFLAGS   += $(call BUILDFLAGS,LDFLAGS)
else
BUILD     := build
SANFLAGS  :=
OPT       := -O2
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-format-nonliteral -Wvla -Wpointer-arith
PG_INC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CPPFLAGS := -D_GNU_SOURCE -I$(PG_INC) -Isrc -I$(BUILD)
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 $(WARN) -pthread $(SANFLAGS)
LDFLAGS  += -pthread $(SANFLAGS)
LIBS     := -lfcgi -lpq -ljansson -lcurl -lcrypto

ifneq ($(V),1)
Q := @
endif

SRCS := util.c log.c cli.c metrics.c config.c cors.c db.c store.c store_keys.c store_sessions.c store_requests.c \
        submit_batch.c store_outbox.c store_tg.c store_mcp.c store_audit.c store_console.c store_tglogin.c store_events.c store_policy.c store_janitor.c \
        keycache.c validate.c params.c policy.c shape.c http.c router.c api.c api_policy.c health.c decide.c \
        tgmsg.c tglogin.c tg.c notify.c delivery.c telegram.c telegram_cli.c hook.c wait.c feed.c events.c mcp.c mcpstdio.c \
        server.c listen.c readwatch.c migrate.c apikey.c doctor.c policy_cli.c audit.c console.c console_tglogin.c console_policy.c hooks.c hook_cli.c janitor.c main.c
OBJS := $(SRCS:%.c=$(BUILD)/%.o) $(BUILD)/sql_embed.o
SQL  := $(sort $(wildcard sql/migrations/*.sql))
SQL_OBJECTS := $(sort $(wildcard sql/functions/*.sql))

# Unit tests: each links only the module under test (and util/log where needed).
UNIT_TESTS := test_util test_config test_validate test_router test_shape test_http test_decide \
              test_tgmsg test_keycache test_notify test_hook test_migrate test_params \
              test_tglogin test_feed test_policy test_metrics test_log test_listen test_submit_batch
UNIT_BINS  := $(UNIT_TESTS:%=$(BUILD)/tests/%)

.PHONY: all build run start stop link check check-unit check-integration check-configs deps lint \
        fmt clean unit
all build: $(BUILD)/loopgate

$(BUILD)/loopgate: $(OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/sql_embed.c: $(SQL) $(SQL_OBJECTS) sql/migrations sql/functions src/embed_sql.sh
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)src/embed_sql.sh $@ $(SQL) --objects $(SQL_OBJECTS)

$(BUILD)/sql_embed.o: $(BUILD)/sql_embed.c src/migrate.h
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

# sql/schema.sql: the schema the migrations and sql/functions produce, as
# pg_dump prints it after `loopgate migrate` on an empty database in a
# throwaway cluster (src/schema.sh). make check fails when it is out of date.
.PHONY: schema
schema: $(BUILD)/loopgate
	@echo "  GEN     sql/schema.sql"
	$(Q)LOOPGATE_BIN=$(BUILD)/loopgate src/schema.sh generate sql/schema.sql

# ---------------------------------------------------------------- unit tests
$(BUILD)/tests/test_util: tests/unit/test_util.c $(BUILD)/util.o
$(BUILD)/tests/test_config: tests/unit/test_config.c $(BUILD)/config.o $(BUILD)/util.o $(BUILD)/log.o
$(BUILD)/tests/test_validate: tests/unit/test_validate.c $(BUILD)/validate.o $(BUILD)/decide.o $(BUILD)/params.o $(BUILD)/util.o
$(BUILD)/tests/test_router: tests/unit/test_router.c $(BUILD)/router.o
$(BUILD)/tests/test_shape: tests/unit/test_shape.c $(BUILD)/shape.o $(BUILD)/params.o $(BUILD)/util.o
$(BUILD)/tests/test_params: tests/unit/test_params.c $(BUILD)/params.o $(BUILD)/util.o
$(BUILD)/tests/test_decide: tests/unit/test_decide.c $(BUILD)/decide.o $(BUILD)/util.o
$(BUILD)/tests/test_tgmsg: tests/unit/test_tgmsg.c $(BUILD)/tgmsg.o $(BUILD)/decide.o $(BUILD)/params.o $(BUILD)/util.o
$(BUILD)/tests/test_tglogin: tests/unit/test_tglogin.c $(BUILD)/tglogin.o $(BUILD)/util.o
$(BUILD)/tests/test_keycache: tests/unit/test_keycache.c $(BUILD)/keycache.o $(BUILD)/util.o
$(BUILD)/tests/test_feed: tests/unit/test_feed.c $(BUILD)/feed.o $(BUILD)/util.o
$(BUILD)/tests/test_metrics: tests/unit/test_metrics.c $(BUILD)/metrics.o $(BUILD)/log.o $(BUILD)/util.o
$(BUILD)/tests/test_notify: tests/unit/test_notify.c $(BUILD)/notify.o $(BUILD)/db.o $(BUILD)/keycache.o \
                          $(BUILD)/metrics.o $(BUILD)/log.o $(BUILD)/util.o
$(BUILD)/tests/test_http: tests/unit/test_http.c $(BUILD)/http.o $(BUILD)/shape.o $(BUILD)/params.o $(BUILD)/util.o $(BUILD)/log.o
$(BUILD)/tests/test_policy: tests/unit/test_policy.c $(BUILD)/policy.o $(BUILD)/validate.o $(BUILD)/tgmsg.o $(BUILD)/decide.o \
                           $(BUILD)/params.o $(BUILD)/util.o
$(BUILD)/tests/test_hook: tests/unit/test_hook.c $(BUILD)/hook.o $(BUILD)/util.o
$(BUILD)/tests/test_log: tests/unit/test_log.c $(BUILD)/log.o $(BUILD)/util.o
$(BUILD)/tests/test_listen: tests/unit/test_listen.c $(BUILD)/listen.o $(BUILD)/log.o $(BUILD)/util.o
$(BUILD)/tests/test_submit_batch: tests/unit/test_submit_batch.c $(BUILD)/submit_batch.o
$(BUILD)/tests/test_migrate: tests/unit/test_migrate.c $(BUILD)/migrate.o $(BUILD)/sql_embed.o \
                            $(BUILD)/db.o $(BUILD)/metrics.o $(BUILD)/log.o $(BUILD)/util.o

$(UNIT_BINS): tests/unit/t.h
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LIBS)

unit: $(UNIT_BINS)

# ---------------------------------------------------------------- fuzzing
# libFuzzer harnesses (tests/fuzz) for every parser of untrusted input,
# built with clang, ASan and UBSan into build/fuzz. `make fuzz` runs each
# for FUZZ_SECONDS, two at a time; `make check` replays each corpus and
# fuzzes each for 20 s, all at once (tests/fuzz/run.sh --check).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_BUILD   := build/fuzz
FUZZ_FLAGS   := -O1 -g -std=c11 $(WARN) -pthread -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_NAMES   := fuzz_validate fuzz_query fuzz_telegram fuzz_mcp fuzz_config fuzz_hooks \
                fuzz_listen
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/%)
FUZZ_COMMON  := util log shape validate params decide
FUZZ_OBJ      = $(patsubst %,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_COMMON) $(1))

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(FUZZ_CC) -D_GNU_SOURCE -I$(PG_INC) -Isrc $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_BUILD)/fuzz_validate: $(call FUZZ_OBJ,policy tgmsg)
$(FUZZ_BUILD)/fuzz_telegram: $(call FUZZ_OBJ,)
$(FUZZ_BUILD)/fuzz_query: $(call FUZZ_OBJ,http router config tglogin)
$(FUZZ_BUILD)/fuzz_config: $(call FUZZ_OBJ,config)
$(FUZZ_BUILD)/fuzz_mcp: $(call FUZZ_OBJ,config hooks) src/mcp.c
$(FUZZ_BUILD)/fuzz_hooks: $(call FUZZ_OBJ,hooks policy tgmsg)
$(FUZZ_BUILD)/fuzz_listen: $(call FUZZ_OBJ,listen)

$(FUZZ_BINS): $(FUZZ_BUILD)/%: tests/fuzz/%.c tests/fuzz/fuzz.h tests/fuzz/check.h $(wildcard src/*.h)
	@mkdir -p $(@D)
	@echo "  LD      $@"
	$(Q)$(FUZZ_CC) -D_GNU_SOURCE -I$(PG_INC) -Isrc $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ \
	    $(filter %.o,$^) $< -lfcgi -ljansson -lcrypto

.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

# ---------------------------------------------------------------- set-up
deps:
	$(Q)tests/deps.sh

# npm packages of the test peers, exactly as pinned in tests/package-lock.json.
tests/node_modules/.package-lock.json: tests/package.json tests/package-lock.json
	@echo "  NPM     tests/node_modules"
	$(Q)cd tests && npm ci --no-audit --no-fund --loglevel=error >/dev/null

run: deps build
	$(Q)src/stack.sh run

start: deps build
	$(Q)src/stack.sh start

stop:
	$(Q)src/stack.sh stop

link:
	$(Q)src/stack.sh link

# ---------------------------------------------------------------- tests
check: deps
	$(Q)$(MAKE) --no-print-directory -j2 build unit tests/node_modules/.package-lock.json
	$(Q)$(MAKE) --no-print-directory -j2 SAN=1 build
	$(Q)$(MAKE) --no-print-directory -j2 TSAN=1 build unit
	$(Q)$(MAKE) --no-print-directory -j2 fuzz-build prev
	$(Q)tests/run.sh

# The previous release of RELEASES, built from git into build/prev once per
# commit (tests/compat/prev.sh), and its compatibility test on its own.
.PHONY: prev check-compat
prev:
	$(Q)tests/compat/prev.sh >/dev/null

check-compat: deps build prev
	$(Q)python3 tests/compat/run.py --bin build/loopgate

# The drills: an MCP client outlasting its 60 s timeout, slow Bot API calls
# that outlast a batch's lease. Minutes of waiting, so not in make check.
.PHONY: check-drills
check-drills: deps
	$(Q)$(MAKE) --no-print-directory build tests/node_modules/.package-lock.json
	$(Q)python3 tests/integration/run.py --bin $(BUILD)/loopgate --drills

# Scale-out and fail-over: worker hosts in network namespaces the tests make
# (root, iproute2), a streaming standby promoted, pgbouncer. Tests marked ha.
.PHONY: check-ha
check-ha: deps
	$(Q)$(MAKE) --no-print-directory build tests/node_modules/.package-lock.json
	$(Q)python3 tests/integration/run.py --bin $(BUILD)/loopgate --ha

lint: build
	$(Q)tests/lint.sh

fmt:
	$(Q)clang-format -i src/*.c src/*.h tests/unit/*.c tests/unit/*.h

# ---------------------------------------------------------------- install
# GNU-style directories. PREFIX (/usr/local) holds the binary, the console's
# pages, the docs, the systemd units and the sysusers file (systemd reads
# units from /usr/local/lib/systemd/system and /usr/lib/systemd/system
# alike). sysconfdir is /etc whatever the prefix: the binary looks for
# /etc/loopgate/loopgate.conf. Every path the units and the nginx site name
# is rewritten to where this install puts it (ExecStart, the console's
# alias, the included nginx files), so `make install PREFIX=/usr` gives the
# packaged layout the docs describe (/usr/bin/loopgate,
# /usr/share/loopgate/www/). Files an operator edits (the config, the nginx
# site) are installed only when absent; everything else is replaced.
PREFIX         ?= /usr/local
prefix         ?= $(PREFIX)
exec_prefix    ?= $(prefix)
bindir         ?= $(exec_prefix)/bin
datarootdir    ?= $(prefix)/share
datadir        ?= $(datarootdir)
docdir         ?= $(datarootdir)/doc/loopgate
sysconfdir     ?= /etc
mandir         ?= $(datarootdir)/man
systemdunitdir ?= $(prefix)/lib/systemd/system
sysusersdir    ?= $(prefix)/lib/sysusers.d
nginxdir       ?= $(sysconfdir)/nginx
INSTALL        ?= install

UNITS     := loopgate.socket loopgate.service loopgate-telegram-poll.service
DOCS      := README.md LICENSE RELEASES
DOCS_DIR  := $(wildcard docs/*.md docs/*.png)
WWW_FILES := $(shell find www -type f 2>/dev/null | sort)
# What the shipped files say, made what this install does.
UNIT_SED  := -e 's|/usr/bin/loopgate|$(bindir)/loopgate|g' -e 's|/etc/loopgate/|$(sysconfdir)/loopgate/|g'
SITE_SED  := -e 's|/usr/share/loopgate/www/|$(datadir)/loopgate/www/|g' \
             -e 's|/etc/nginx/loopgate-|$(nginxdir)/loopgate-|g' \
             -e 's|/etc/loopgate/|$(sysconfdir)/loopgate/|g'

# The manual pages, checked against (loopgate.8) or made from (the key list
# of loopgate.conf.5) the binary's own --help (man/build.sh).
VERSION   := $(shell sed -n 's/^\#define LOOPGATE_VERSION "\([^"]*\)".*/\1/p' src/version.h)
MAN_PAGES := $(BUILD)/man/loopgate.8 $(BUILD)/man/loopgate.conf.5

$(MAN_PAGES) &: $(BUILD)/loopgate man/loopgate.8 man/loopgate.conf.5.in man/build.sh src/version.h
	@echo "  MAN     $(BUILD)/man"
	$(Q)man/build.sh $(BUILD)/loopgate $(BUILD)/man $(VERSION)

.PHONY: install uninstall man
man: $(MAN_PAGES)

install: $(BUILD)/loopgate $(MAN_PAGES)
	$(Q)$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(systemdunitdir) $(DESTDIR)$(sysusersdir) \
	    $(DESTDIR)$(datadir)/loopgate/www $(DESTDIR)$(docdir)/docs $(DESTDIR)$(docdir)/examples \
	    $(DESTDIR)$(nginxdir)/sites-available $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(mandir)/man5
	$(Q)$(INSTALL) -m 0644 $(BUILD)/man/loopgate.8 $(DESTDIR)$(mandir)/man8/loopgate.8
	$(Q)$(INSTALL) -m 0644 $(BUILD)/man/loopgate.conf.5 $(DESTDIR)$(mandir)/man5/loopgate.conf.5
	$(Q)$(INSTALL) -d -m 0750 $(DESTDIR)$(sysconfdir)/loopgate
	$(Q)$(INSTALL) -m 0755 $(BUILD)/loopgate $(DESTDIR)$(bindir)/loopgate
	$(Q)for u in $(UNITS); do \
	    sed $(UNIT_SED) systemd/$$u >$(DESTDIR)$(systemdunitdir)/$$u.tmp && \
	    chmod 0644 $(DESTDIR)$(systemdunitdir)/$$u.tmp && \
	    mv -f $(DESTDIR)$(systemdunitdir)/$$u.tmp $(DESTDIR)$(systemdunitdir)/$$u || exit 1; done
	$(Q)$(INSTALL) -m 0644 systemd/loopgate.sysusers.conf $(DESTDIR)$(sysusersdir)/loopgate.conf
	$(Q)for f in $(WWW_FILES); do \
	    $(INSTALL) -D -m 0644 $$f $(DESTDIR)$(datadir)/loopgate/$$f || exit 1; done
	$(Q)$(INSTALL) -m 0644 $(DOCS) $(DESTDIR)$(docdir)/
	$(Q)$(INSTALL) -m 0644 $(DOCS_DIR) $(DESTDIR)$(docdir)/docs/
	$(Q)$(INSTALL) -m 0644 conf/loopgate.conf $(DESTDIR)$(docdir)/examples/loopgate.conf
	$(Q)sed $(SITE_SED) nginx/loopgate.conf >$(DESTDIR)$(docdir)/examples/nginx-site.conf
	$(Q)$(INSTALL) -m 0644 nginx/loopgate-upstream.conf $(DESTDIR)$(docdir)/examples/nginx-upstream.conf
	$(Q)$(INSTALL) -m 0644 nginx/loopgate-errors.conf nginx/loopgate-fastcgi.conf $(DESTDIR)$(nginxdir)/
	$(Q)if [ -e $(DESTDIR)$(sysconfdir)/loopgate/loopgate.conf ]; then \
	    echo "  KEEP    $(DESTDIR)$(sysconfdir)/loopgate/loopgate.conf (the shipped one: $(docdir)/examples/loopgate.conf)"; \
	else $(INSTALL) -m 0640 conf/loopgate.conf $(DESTDIR)$(sysconfdir)/loopgate/loopgate.conf; fi
	$(Q)if [ -e $(DESTDIR)$(nginxdir)/sites-available/loopgate.conf ]; then \
	    echo "  KEEP    $(DESTDIR)$(nginxdir)/sites-available/loopgate.conf (the shipped one: $(docdir)/examples/nginx-site.conf)"; \
	else $(INSTALL) -m 0644 $(DESTDIR)$(docdir)/examples/nginx-site.conf \
	    $(DESTDIR)$(nginxdir)/sites-available/loopgate.conf; fi
	@echo "installed under $(DESTDIR)$(prefix) and $(DESTDIR)$(sysconfdir); next steps: docs/OPERATIONS.md, \"Installing\""

# Everything install put, except what an operator edits: the config, the
# nginx site (and the secrets and certificates next to them).
uninstall:
	$(Q)rm -f $(DESTDIR)$(bindir)/loopgate $(DESTDIR)$(sysusersdir)/loopgate.conf \
	    $(DESTDIR)$(mandir)/man8/loopgate.8 $(DESTDIR)$(mandir)/man5/loopgate.conf.5 \
	    $(addprefix $(DESTDIR)$(systemdunitdir)/,$(UNITS)) \
	    $(DESTDIR)$(nginxdir)/loopgate-errors.conf $(DESTDIR)$(nginxdir)/loopgate-fastcgi.conf
	$(Q)rm -rf $(DESTDIR)$(datadir)/loopgate $(DESTDIR)$(docdir)
	@echo "kept $(DESTDIR)$(sysconfdir)/loopgate/ and $(DESTDIR)$(nginxdir)/sites-available/loopgate.conf"

# ---------------------------------------------------------------- packages
# The Debian package: the binary built with Debian's hardening flags
# (DEB=1, into build/deb), `make install PREFIX=/usr` into a staging tree,
# then packaging/deb/build.sh adds what Debian asks for (copyright,
# changelog, maintainer scripts, conffiles, Depends from dpkg-shlibdeps) and
# runs dpkg-deb. The version is src/version.h's, with `-` read as `~`
# (0.2.0-dev sorts before 0.2.0). check-dist installs, uses, removes and
# purges it in a Debian 12 chroot (tests/pkg/test_deb.sh).
DEB_VERSION := $(subst -,~,$(VERSION))
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_FILE    := build/loopgate_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_STAGE   := build/pkg/stage

.PHONY: deb check-dist deps-dist
deps-dist:
	$(Q)tests/deps.sh dist

deb: deps-dist
	$(Q)$(MAKE) --no-print-directory $(if $(Q),-s) DEB=1 build man
	$(Q)rm -rf $(DEB_STAGE)
	$(Q)$(MAKE) --no-print-directory DEB=1 install PREFIX=/usr DESTDIR=$(CURDIR)/$(DEB_STAGE) >/dev/null
	@echo "  DEB     $(DEB_FILE)"
	$(Q)packaging/deb/build.sh $(DEB_STAGE) $(DEB_VERSION) $(DEB_ARCH) $(DEB_FILE)

# Each test of DIST_TESTS gets the package's path; tests/pkg/run.sh times
# them and ends with "N passed, N failed".
DIST_TESTS  := tests/pkg/test_deb.sh
DIST_TESTS  += tests/pkg/test_image.sh

check-dist: deps-dist
	$(Q)$(MAKE) --no-print-directory deb
	$(Q)tests/pkg/run.sh $(DEB_FILE) $(DIST_TESTS)

# ---------------------------------------------------------------- container image
# loopgate:latest (Dockerfile, compose.yaml): the package of `make deb` on
# debian:bookworm-slim, built with docker, or podman where no docker daemon
# runs (docker/build.sh). LOOPGATE_DEB=FILE uses a package already built.
.PHONY: docker-build
docker-build: deps-dist
	$(Q)if [ -z "$(LOOPGATE_DEB)" ]; then $(MAKE) --no-print-directory deb; fi
	$(Q)LOOPGATE_DEB=$(or $(LOOPGATE_DEB),$(DEB_FILE)) docker/build.sh

# ---------------------------------------------------------------- benchmarks
# Each figure next to its floor, measured in one run (bench/run.py; under 10 minutes).
.PHONY: bench
bench: deps build $(BUILD)/bench/floor
	$(Q)python3 bench/run.py --bin $(BUILD)/loopgate --floor $(BUILD)/bench/floor

$(BUILD)/bench/floor: bench/floor.c
	@mkdir -p $(@D)
	@echo "  CC      $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< -lfcgi -lpq

clean:
	rm -rf build
