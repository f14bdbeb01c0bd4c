#!/usr/bin/env bash
# Builds the pbxha Debian package from this checkout with dpkg-deb.
#
#   packaging/deb/build.sh OUTDIR            # version from `git describe`
#   VERSION=1.2.0 packaging/deb/build.sh OUTDIR
#
# The binary is static (CGO_ENABLED=0) and records the commit in its build
# information; man pages and shell completions come from the binary's own
# command tree (`pbxha gen`; the man pages from a build with -tags
# pbxha_gendoc). Prints the path of the .deb.
set -euo pipefail
out=${1:?usage: build.sh OUTDIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

if [ -z "${VERSION:-}" ]; then
	if VERSION=$(git -C "$repo" describe --tags --match 'v[0-9]*' 2>/dev/null); then
		VERSION=${VERSION#v}
		VERSION=${VERSION//-/+}
	else
		VERSION="0.0.0~git$(git -C "$repo" log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)"
	fi
fi
arch=$(dpkg --print-architecture)
case "$arch" in
amd64 | arm64 | 386 | riscv64 | ppc64el | s390x) ;;
armhf) export GOARM=7 ;;
*) echo "build.sh: no Go target for Debian architecture $arch" >&2; exit 1 ;;
esac
goarch=$arch
[ "$arch" = ppc64el ] && goarch=ppc64le
[ "$arch" = armhf ] && goarch=arm

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/etc/pbxha" \
	"$root/etc/logrotate.d" "$root/usr/share/pbxha/examples" "$root/usr/share/man/man1" "$root/usr/share/doc/pbxha"

# The binary: static, trimmed paths, the release and the commit recorded.
# The go command stamps the commit into the build information in a plain
# clone; buildinfo.Commit carries it from a git worktree, where it does not.
bi=github.com/pbxha/pbxha/internal/buildinfo
ldflags="-s -w -X $bi.Version=$VERSION"
if rev=$(git -C "$repo" rev-parse HEAD 2>/dev/null); then
	[ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ] && rev="$rev-modified"
	ldflags="$ldflags -X $bi.Commit=$rev"
fi
(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath -buildvcs=auto \
	-ldflags "$ldflags" -o "$root/usr/bin/pbxha" ./cmd/pbxha)
bin=$root/usr/bin/pbxha
if [ "$goarch" != "$(go env GOARCH)" ]; then
	bin=$stage/pbxha-host
	(cd "$repo" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin" ./cmd/pbxha)
fi

# The man pages come from a build of the same tree with the man page
# generator, which the shipped binary leaves out (cmd/pbxha/gen_man.go).
(cd "$repo" && CGO_ENABLED=0 go build -trimpath -tags pbxha_gendoc -ldflags "$ldflags" -o "$stage/pbxha-gendoc" ./cmd/pbxha)
"$stage/pbxha-gendoc" gen man "$stage/man" >/dev/null
for f in "$stage"/man/*.1; do gzip -9n <"$f" >"$root/usr/share/man/man1/$(basename "$f").gz"; done
"$bin" gen completions "$stage/completions" >/dev/null
install -D -m 0644 "$stage/completions/bash-completion/completions/pbxha" "$root/usr/share/bash-completion/completions/pbxha"
install -D -m 0644 "$stage/completions/zsh/vendor-completions/_pbxha" "$root/usr/share/zsh/vendor-completions/_pbxha"
install -D -m 0644 "$stage/completions/fish/vendor_completions.d/pbxha.fish" "$root/usr/share/fish/vendor_completions.d/pbxha.fish"

# The config (a conffile) is the embedded default: what `pbxha config default` prints.
"$bin" config default >"$root/etc/pbxha/pbxha.yaml"
chmod 0640 "$root/etc/pbxha/pbxha.yaml"
install -m 0644 "$repo/configs/pbxha.service" "$root/usr/lib/systemd/system/pbxha.service"
install -m 0644 "$repo/packaging/deb/logrotate" "$root/etc/logrotate.d/pbxha"
install -m 0755 "$repo/configs/pg-demote.sh" "$root/usr/share/pbxha/pg-demote.sh"
install -m 0644 "$repo/configs/pbxha.example.yaml" "$repo"/configs/examples/*.yaml "$root/usr/share/pbxha/examples/"
install -m 0644 "$repo/configs/grafana-dashboard.json" "$repo/configs/prometheus-rules.yaml" "$root/usr/share/pbxha/"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/pbxha/README.md"
cp -r "$repo/docs" "$root/usr/share/doc/pbxha/docs"
find "$root/usr/share/doc/pbxha/docs" -type f -exec chmod 0644 {} + -o -type d -exec chmod 0755 {} +

for s in postinst prerm postrm; do install -m 0755 "$repo/packaging/deb/$s" "$root/DEBIAN/$s"; done
printf '/etc/pbxha/pbxha.yaml\n/etc/logrotate.d/pbxha\n' >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
	"$repo/packaging/deb/control" >"$root/DEBIAN/control"

deb=$out/pbxha_${VERSION}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
