# csd: build, test, install, benchmark.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man/man1
PLUGINDIR ?= $(PREFIX)/share/csd/plugin
CARGO ?= cargo
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d

BINS := csd csd-hook csd-launch csd-send csd-wait csd-events csd-turn csd-status csd-stop csd-doctor

.PHONY: build test install uninstall bench man man-check clean

build:
	$(CARGO) build --release --locked

# What CI runs (.ci/run): every unit, integration and end-to-end test. One
# test at a time: the end-to-end tests run real harness CLIs, and two of them
# at once on a 2-core machine stretch their timings for no gain (about 3 min).
test:
	$(CARGO) test --locked -- --test-threads=1

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)
	for b in $(BINS); do \
	  if [ -f target/release/$$b ]; then install -m 0755 target/release/$$b $(DESTDIR)$(BINDIR)/$$b; fi; \
	done
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/
	# Shell completions, generated from the interface declarations. bash and
	# fish look a completion up by the command's name: one copy per binary.
	# (Skipped, as the binaries are, when there is no build: CARGO=true.)
	if [ -x target/release/csd ]; then \
	  install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR) && \
	  target/release/csd completions bash > $(DESTDIR)$(BASHCOMPDIR)/csd && \
	  target/release/csd completions zsh > $(DESTDIR)$(ZSHCOMPDIR)/_csd && \
	  target/release/csd completions fish > $(DESTDIR)$(FISHCOMPDIR)/csd.fish && \
	  for b in $(BINS); do \
	    if [ $$b != csd ]; then \
	      install -m 0644 $(DESTDIR)$(BASHCOMPDIR)/csd $(DESTDIR)$(BASHCOMPDIR)/$$b; \
	      install -m 0644 $(DESTDIR)$(FISHCOMPDIR)/csd.fish $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; \
	    fi; \
	  done; \
	fi
	# The Claude Code plugin: hooks call the installed csd-hook by absolute path.
	install -d $(DESTDIR)$(PLUGINDIR)/.claude-plugin $(DESTDIR)$(PLUGINDIR)/hooks
	if [ -d .claude-plugin ]; then install -m 0644 .claude-plugin/*.json $(DESTDIR)$(PLUGINDIR)/.claude-plugin/; fi
	if [ -d skills ]; then cp -R skills $(DESTDIR)$(PLUGINDIR)/; fi
	if [ -f hooks/hooks.json ]; then \
	  sed 's|"csd-hook |"$(BINDIR)/csd-hook |' hooks/hooks.json > $(DESTDIR)$(PLUGINDIR)/hooks/hooks.json; \
	fi

uninstall:
	for b in $(BINS); do rm -f $(DESTDIR)$(BINDIR)/$$b; done
	for m in man/*.1; do rm -f $(DESTDIR)$(MANDIR)/$$(basename $$m); done
	for b in $(BINS); do rm -f $(DESTDIR)$(BASHCOMPDIR)/$$b $(DESTDIR)$(FISHCOMPDIR)/$$b.fish; done
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_csd
	rm -rf $(DESTDIR)$(PLUGINDIR)

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
