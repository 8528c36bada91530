# csd: build, test, install, benchmark.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
PLUGINDIR ?= $(PREFIX)/share/csd/plugin
CARGO ?= cargo
# Where cargo puts what it builds: CARGO_TARGET_DIR when set, as cargo does.
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

BINS := csd csd-hook csd-launch csd-send csd-wait csd-events csd-turn csd-status csd-stop csd-doctor csd-mcp

.PHONY: build test prereqs install install-bins install-extras path-hint uninstall dist bench man man-check clean

build:
	$(CARGO) build --release --locked

# What CI runs (.ci/run), and the README's test command: every unit,
# integration and end-to-end test. First what they need: the system packages
# (.ci/prereqs: installed when root with apt-get, else one line naming each
# missing one), and the pinned harness CLIs (npm install from the lock in
# tests/e2e, again only when the lock is newer than what was installed). One test at a time: the end-to-end
# tests run real harness CLIs, and two of them at once on a 2-core machine
# stretch their timings for no gain (about 10 min). Both tiers: plain `cargo
# test` is the portable one (no root, no sshd, no namespaces, no harness
# CLI); the e2e feature adds the rest. --no-fail-fast: every test binary
# reports, whichever fails.
test: prereqs tests/e2e/node_modules/.package-lock.json
	$(MAKE) --no-print-directory man-check
	$(CARGO) test --locked --no-fail-fast --features e2e -- --test-threads=1

prereqs:
	.ci/prereqs

# npm install from the committed lock, not npm ci: Qwen Code names platform
# builds of a clipboard module that were never published (a 404), which npm
# install passes over as optional and npm ci refuses as missing from the
# lock. With the lock there, npm install takes exactly its versions and
# (--no-save) leaves it as it is. It writes node_modules/.package-lock.json:
# newer than the committed lock once it has installed what that lock pins.
tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	cd tests/e2e && npm install --no-audit --no-fund --no-save --loglevel=error
	touch $@

install: build install-bins install-extras

install-bins:
	install -d $(DESTDIR)$(BINDIR)
	for b in $(BINS); do \
	  if [ -f $(TARGET_DIR)/release/$$b ]; then install -m 0755 $(TARGET_DIR)/release/$$b $(DESTDIR)$(BINDIR)/$$b; fi; \
	done

# All but the binaries: what `cargo install --path . --locked` leaves out.
# After it: make install-extras PREFIX=~/.local BINDIR=~/.cargo/bin
# Completions come from the csd just built, else the one in BINDIR.
CSD_FOR_COMPLETIONS = $(firstword $(wildcard $(TARGET_DIR)/release/csd $(DESTDIR)$(BINDIR)/csd))
install-extras:
	install -d $(DESTDIR)$(MANDIR)
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/
	# Shell completions, generated from the interface declarations. bash and
	# fish look a completion up by the command's name: one copy per binary.
	# (Skipped when there is no csd to make them: CARGO=true, no build.)
	if [ -n "$(CSD_FOR_COMPLETIONS)" ]; then \
	  install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) && \
	  $(CSD_FOR_COMPLETIONS) completions bash > $(DESTDIR)$(BASHCOMPDIR)/csd && \
	  $(CSD_FOR_COMPLETIONS) completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_csd && \
	  $(CSD_FOR_COMPLETIONS) completions fish > $(DESTDIR)$(FISHCOMPDIR)/csd.fish && \
	  for b in $(BINS); do \
	    if [ $$b != csd ]; then \
	      install -m 0644 $(DESTDIR)$(BASHCOMPDIR)/csd $(DESTDIR)$(BASHCOMPDIR)/$$b; \
	      install -m 0644 $(DESTDIR)$(FISHCOMPDIR)/csd.fish $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; \
	    fi; \
	  done; \
	fi
	# The Claude Code plugin (plugin/), its hook runner told where csd-hook is.
	install -d $(DESTDIR)$(PLUGINDIR)
	cp -R plugin/. $(DESTDIR)$(PLUGINDIR)/
	# The installed copy is a marketplace of its own (claude plugin
	# marketplace add $(PLUGINDIR)), its one plugin itself.
	sed 's|"source": "./plugin"|"source": "./"|' .claude-plugin/marketplace.json > $(DESTDIR)$(PLUGINDIR)/.claude-plugin/marketplace.json
	sed "s|^bindir=\$$|bindir='$(BINDIR)'|" plugin/hooks/run-csd-hook > $(DESTDIR)$(PLUGINDIR)/hooks/run-csd-hook
	chmod 0755 $(DESTDIR)$(PLUGINDIR)/hooks/run-csd-hook
	sed "s|^bindir=\$$|bindir='$(BINDIR)'|" plugin/mcp/run-csd-mcp > $(DESTDIR)$(PLUGINDIR)/mcp/run-csd-mcp
	chmod 0755 $(DESTDIR)$(PLUGINDIR)/mcp/run-csd-mcp
	$(MAKE) --no-print-directory path-hint

# `make install PREFIX=~/.local && csd help` needs $(BINDIR) on PATH: say so
# when it is not, with the line that puts it there.
path-hint:
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) \
	  echo "csd: $(BINDIR) is not on your PATH; run csd as $(BINDIR)/csd, or add it: export PATH=\"$(BINDIR):\$$PATH\"" >&2 ;; \
	esac

uninstall:
	for b in $(BINS); do rm -f $(DESTDIR)$(BINDIR)/$$b; done
	for m in man/*.1; do rm -f $(DESTDIR)$(MANDIR)/$$(basename $$m); done
	for b in $(BINS); do rm -f $(DESTDIR)$(BASHCOMPDIR)/$$b $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; done
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_csd
	rm -rf $(DESTDIR)$(PLUGINDIR)

# A release a user without Rust installs: one archive for x86_64 Linux with
# static binaries (glibc's crt-static: no shared library needed, so any
# distribution runs them), man pages, completions, the Claude Code plugin
# and install.sh (./install.sh --prefix ~/.local, no root). Its SHA-256 is
# printed and written beside it. Publishing it is not done here.
DIST_TARGET ?= x86_64-unknown-linux-gnu
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DIST_NAME := csd-$(VERSION)-x86_64-linux
DIST_DIR := dist/$(DIST_NAME)
dist:
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --release --locked --bins --target $(DIST_TARGET)
	rm -rf $(DIST_DIR) && mkdir -p $(DIST_DIR)/bin $(DIST_DIR)/man $(DIST_DIR)/completions $(DIST_DIR)/plugin
	for b in $(BINS); do install -m 0755 $(TARGET_DIR)/$(DIST_TARGET)/release/$$b $(DIST_DIR)/bin/; done
	install -m 0644 man/*.1 $(DIST_DIR)/man/
	$(DIST_DIR)/bin/csd completions bash > $(DIST_DIR)/completions/csd.bash
	$(DIST_DIR)/bin/csd completions zsh > $(DIST_DIR)/completions/_csd
	$(DIST_DIR)/bin/csd completions fish > $(DIST_DIR)/completions/csd.fish
	cp -R plugin/. $(DIST_DIR)/plugin/
	sed 's|"source": "./plugin"|"source": "./"|' .claude-plugin/marketplace.json > $(DIST_DIR)/plugin/.claude-plugin/marketplace.json
	install -m 0755 packaging/install.sh $(DIST_DIR)/install.sh
	install -m 0644 README.md LICENSE CHANGELOG.md $(DIST_DIR)/
	tar -C dist --owner=0 --group=0 --sort=name -czf dist/$(DIST_NAME).tar.gz $(DIST_NAME)
	cd dist && sha256sum $(DIST_NAME).tar.gz | tee $(DIST_NAME).tar.gz.sha256

# Medians over repeated runs of the release binaries; see bench/bench.rs.
bench:
	$(CARGO) build --release --locked --bins
	$(CARGO) run --release --locked --example bench

# Regenerate man/*.1 from the interface declarations (shared/interface/spec.rs);
# tests/interface.rs fails when the committed pages differ from these.
man:
	$(CARGO) run --locked --quiet --bin csd -- generate-man man

# Every man page renders without a warning.
man-check:
	for m in man/*.1; do \
	  out=$$(groff -man -Tutf8 -ww -z $$m 2>&1); \
	  if [ -n "$$out" ]; then echo "$$m: $$out"; exit 1; fi; \
	done

clean:
	$(CARGO) clean
