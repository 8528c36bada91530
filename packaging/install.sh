#!/bin/sh
# Install csd from this release archive, no root and no Rust needed:
#   ./install.sh --prefix ~/.local
# Binaries go to PREFIX/bin, man pages to PREFIX/share/man/man1, bash, zsh and
# fish completions where each shell looks under PREFIX/share, and the Claude
# Code plugin (its hooks told where csd-hook is) to PREFIX/share/csd/plugin.
# --uninstall removes what this installs.
set -eu
usage() { echo "usage: ./install.sh --prefix DIR [--uninstall]" >&2; exit 2; }
prefix= uninstall=
while [ $# -gt 0 ]; do
  case $1 in
    --prefix) [ $# -ge 2 ] || usage; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) echo "usage: ./install.sh --prefix DIR [--uninstall]"; exit 0 ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[ -n "$prefix" ] || usage
case $prefix in
  "~"*) echo "install.sh: the prefix '$prefix' starts with a ~ no shell expanded: give it as \$HOME/${prefix#\~/}" >&2; exit 2 ;;
  /*) ;;
  *) prefix=$(pwd)/$prefix ;;
esac
# The prefix is written into the hooks' runner (by sed, in single quotes).
case $prefix in
  *"'"*|*'|'*|*'&'*|*'\'*|*'
'*) echo "install.sh: a prefix holding ' | & \\ or a newline is refused: $prefix" >&2; exit 2 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
bindir=$prefix/bin
mandir=$prefix/share/man/man1
bashdir=$prefix/share/bash-completion/completions
zshdir=$prefix/share/zsh/site-functions
fishdir=$prefix/share/fish/vendor_completions.d
plugindir=$prefix/share/csd/plugin

if [ -n "$uninstall" ]; then
  for b in "$here"/bin/*; do
    n=$(basename "$b")
    rm -f "$bindir/$n" "$bashdir/$n" "$fishdir/$n.fish"
  done
  for m in "$here"/man/*.1; do rm -f "$mandir/$(basename "$m")"; done
  rm -f "$zshdir/_csd"
  rm -rf "$plugindir"
  echo "csd removed from $prefix"
  exit 0
fi

mkdir -p "$bindir" "$mandir" "$bashdir" "$zshdir" "$fishdir" "$plugindir"
for b in "$here"/bin/*; do
  n=$(basename "$b")
  # A new file, then a rename: a running csd keeps its old binary intact.
  cp "$b" "$bindir/.$n.new" && chmod 0755 "$bindir/.$n.new" && mv -f "$bindir/.$n.new" "$bindir/$n"
  # bash and fish look a completion up by the command's name.
  cp "$here/completions/csd.bash" "$bashdir/$n"
  cp "$here/completions/csd.fish" "$fishdir/$n.fish"
done
cp "$here/completions/_csd" "$zshdir/_csd"
for m in "$here"/man/*.1; do cp "$m" "$mandir/"; done
rm -rf "$plugindir"
mkdir -p "$plugindir"
cp -R "$here/plugin/." "$plugindir/"
sed "s|^bindir=\$|bindir='$bindir'|" "$here/plugin/hooks/run-csd-hook" > "$plugindir/hooks/run-csd-hook"
chmod 0755 "$plugindir/hooks/run-csd-hook"
sed "s|^bindir=\$|bindir='$bindir'|" "$here/plugin/mcp/run-csd-mcp" > "$plugindir/mcp/run-csd-mcp"
chmod 0755 "$plugindir/mcp/run-csd-mcp"

echo "csd installed in $prefix: $bindir/csd, man pages, completions"
echo "Claude Code plugin: claude plugin marketplace add $plugindir && claude plugin install csd@csd"
case ":$PATH:" in
  *":$bindir:"*) ;;
  *) echo "csd: $bindir is not on your PATH; run csd as $bindir/csd, or add it: export PATH=\"$bindir:\$PATH\"" >&2 ;;
esac
