#!/bin/sh
# wwruntime launcher (@ARCH@): runs bin/NAME of this folder with this folder's own C runtime
# (lib/), from wherever the folder was copied. The executables in bin/ name the loader
# @INTERP_DIR@/@LOADER@, so they run by themselves only where the runtime is installed
# there (a node's /warewulf); this script hands them to the loader explicitly instead.
# NAME is the name this script is invoked by (a copy or symlink named after a tool); the
# tool sees that name as its argv[0].
# Follow $0 to the launcher itself. A relative link target is relative to the link's folder,
# which is "." when $0 has no slash (`sh NAME` run from that folder); at most 40 links.
p=$0
i=0
while [ -h "$p" ] && [ "$i" -lt 40 ]; do
    l=$(readlink "$p") || break
    case $l in
        /*) p=$l ;;
        *) case $p in */*) p=${p%/*}/$l ;; *) p=$l ;; esac ;;
    esac
    i=$((i + 1))
done
case $p in */*) d=${p%/*} ;; *) d=. ;; esac
n=${0##*/}
e=$d/bin/$n
[ -f "$e" ] || e=$d/bin/wwruntime
for f in "$e" @LIBS@; do
    [ "$f" = "$e" ] || f=$d/lib/$f
    if [ ! -f "$f" ]; then
        echo "$n: ERROR: $f is missing: copy the whole @ARCH@ folder (bin/, lib/ and this launcher)" >&2
        exit 2
    fi
done
case $(uname -m) in
    @UNAME@) ;;
    *)
        echo "$n: ERROR: these are @ARCH@ executables; this machine is $(uname -m)" >&2
        exit 2
        ;;
esac
exec "$d/lib/@LOADER@" --library-path "$d/lib" --argv0 "$0" "$e" "$@"
