# shellcheck shell=sh
# wwruntime-lib.sh: the runtime-services step of a Warewulf 3 bootstrap, shared by
#   wwruntime-step     the provision step run in the initramfs (mode "boot")
#   wwruntime-install  the image builder's installer into a VNFS chroot (mode "image")
# Sourced, never run. POSIX sh (busybox ash, dash); uses only ln mv rm rmdir mkdir chmod cat
# sort uname readlink sha256sum (or busybox sha256sum), unxz (or xz, or busybox unxz) for a packed
# executable, head df (and cmp, grep, tr, od, date when present); for the lean capability's
# fetched runtime also curl or wget, tar, find, wc.
#
# Contents (in this order; each section starts with a "# ---- " line):
#   bookkeeping      the manifest of what an install placed (wwrt_track, wwrt_init, wwrt_safe_rel)
#   confinement      NEWROOT/REL as the node will see it (wwrt_path); creating, writing, copying,
#                    linking there (wwrt_mkdir, wwrt_put, wwrt_copy, wwrt_link)
#   /warewulf/config our keys written and removed, other lines kept
#   settings         the master (PROTOCOL 1 order, files parsed as data), the config keys
#   executables      wwrt_find_runtime: finds the ARCH folder, unpacks its bin/wwruntime.xz
#                    (wwrt_unpack_runtime) AND validates it (loader, ELF machine, every copied
#                    file against SHA256SUMS) before anything is placed; the lean capability's
#                    runtime fetched from the master (wwrt_fetch_runtime); wwrt_install_bin
#   numbers          wwrt_number: the one number grammar (the TypeScript tools use the same)
#   schedulers       cron files or systemd timers, the log folder
#   upstream         what 60-runtimesupport left (its transport copy, its cron files)
#   removal          what an earlier install placed and this one did not
#   run record       NEWROOT/var/lib/wwruntime/status/boot.json, as the tools write theirs (wwrt_record)
#   entry points     wwrt_preflight, wwrt_remove, wwrt_install, wwrt_main
#
# Confinement: every path under NEWROOT is resolved the way the node will see it once NEWROOT
# is its /, by wwrt_path: a symbolic link inside the image is read and followed inside NEWROOT
# (an absolute target starts again at NEWROOT, '..' stops there), as chroot does. Nothing the
# step creates, replaces, reads or removes is ever outside NEWROOT, whatever links the image
# holds, and the last component of a name we write is never followed (a link there is replaced).
#
# Settings (environment; the installer maps its options onto them). Node attributes set
# with `wwsh object modify -s NAME=VALUE` reach the initramfs as WWNAME, so the WW* ones
# below can be set per node:
#   NEWROOT                root to install into (required; "/" for the running system)
#   WWNORUNTIMESERVICES    non-empty: install nothing and remove what an earlier run installed
#   WWRUNTIME_STANDALONE   non-empty: four standalone executables instead of one multi-call
#                          executable (wwruntime) plus four symlinks
#   WWRUNTIME_SCHEDULER    auto (default) | cron | systemd
#   WWRUNTIME_SCHEDULE     cron time fields of both jobs (default "*/5 * * * *")
#   WWRUNTIME_ONCALENDAR   systemd OnCalendar= of both timers (default "*:0/5")
#   WWGETFILES_INTERVAL    random start delay of wwgetfiles, seconds 0..86400 (default 180, 0 = none)
#   WWRUNTIME_MAX_RUN      seconds 1..86400 after the tick by which a scheduled run ends (default
#                          280: the 5-minute tick less 20 s; the start delay counts): --max-run
#                          (numbers: ASCII digits only, see wwrt_number)
#   WWRUNTIME_ARCH         executable flavour (default from uname -m: x86_64 -> linux-x64,
#                          aarch64 -> linux-arm64)
#   WWRUNTIME_SOURCE       folder holding ARCH/{bin,lib,SHA256SUMS,NOTICE}, or one such ARCH folder
#                          (or, the lean capability, ARCH/RUNTIME: the manifest of the blob to fetch)
#   WWRUNTIME_FETCH_TIMEOUT seconds 1..86400 all fetches of the lean capability's blob may take
#                          together (default 300)
#   WWRUNTIME_HOSTROOT     prefix of the files of the system the step runs on (/proc/cmdline,
#                          /etc/network.conf, /init, /var/log/warewulf); for tests
# Exit status of the entry points: 0 done, 1 skipped (nothing to do), 2 failed. (The
# Warewulf provision handler reboots the node on any other status, so no other is used.)

WWRT_MARK='wwruntime-managed'
WWRT_KEYS='WWINIT_HWADDR WWMASTER WWTRANSPORT WWNODENAME WWCLUSTER WWDOMAIN WWGROUPS WWFQDN'
WWRT_TOOLS='wwgetfiles wwgetscript wwgetvnfs wwgetnodeconfig'
# This step's version, as package.json's (test/e2e/status.test.ts holds the two together): the
# boot run record carries it, so the fleet tells nodes booted with an old step from new ones.
WWRT_VERSION='0.1.0'
WWRT_MANIFEST='warewulf/.wwruntime-manifest'
WWRT_LOGDIR='/var/log/warewulf'
WWRT_NL='
'

wwrt_say() { printf 'wwruntime: %s\n' "$*" >&2; }
wwrt_err() {
    WWRT_ERR=$* # the run record's error line (wwrt_record)
    printf 'wwruntime: ERROR: %s\n' "$*" >&2
}

# Prints $1 as one single-quoted shell word: ' becomes '\''. No subprocess.
wwrt_quote() {
    _q_rest=$1
    _q_out=
    while :; do
        case $_q_rest in
            *\'*)
                _q_out="$_q_out${_q_rest%%\'*}'\\''"
                _q_rest=${_q_rest#*\'}
                ;;
            *) break ;;
        esac
    done
    printf "'%s%s'" "$_q_out" "$_q_rest"
}

# ---- bookkeeping: the manifest lists what we installed, one "TYPE RELPATH" a line:
#   d directory we created   f file carrying our mark   x executable   l symlink
#   o log file of our jobs   c warewulf/config (our keys only)
wwrt_track() { WWRT_NEW="$WWRT_NEW$1$WWRT_NL"; }
wwrt_in() { # ENTRY LIST
    case "$WWRT_NL$2" in *"$WWRT_NL$1$WWRT_NL"*) return 0 ;; esac
    return 1
}

wwrt_init() {
    WWRT_MODE=${WWRT_MODE:-boot}
    WWRT_HOST=${WWRUNTIME_HOSTROOT:-}
    WWRT_HOST=${WWRT_HOST%/}
    if [ -z "${NEWROOT+set}" ]; then
        wwrt_err "NEWROOT is not set (use NEWROOT=/ for the running system)"
        return 2
    fi
    WWRT_ROOT=${NEWROOT%/}
    if [ -n "$WWRT_ROOT" ] && [ ! -d "$WWRT_ROOT" ]; then
        wwrt_err "NEWROOT '$NEWROOT' is not a directory"
        return 2
    fi
    # wwgetvnfs writes this marker before it unpacks anything and removes it only once the
    # unpack is complete and verified: a root that still has it is not a root to boot, nor
    # one to install into (or remove from).
    if [ -e "$WWRT_ROOT/.wwgetvnfs-incomplete" ] || [ -L "$WWRT_ROOT/.wwgetvnfs-incomplete" ]; then
        if [ "$WWRT_MODE" = boot ]; then _i_what=NEWROOT; else _i_what=${WWRT_ROOT:-/}; fi
        wwrt_err "$_i_what holds an unfinished VNFS unpack (.wwgetvnfs-incomplete): not installing"
        return 2
    fi
    WWRT_NEW=
    WWRT_OLD=
    wwrt_path "$WWRT_MANIFEST" || return 2
    # only a regular file: we never write the manifest as anything else
    if [ -f "$WWRT_P" ] && [ ! -L "$WWRT_P" ]; then
        WWRT_OLD=$(cat "$WWRT_P") || return 2
        [ -n "$WWRT_OLD" ] && WWRT_OLD="$WWRT_OLD$WWRT_NL"
    fi
    umask 022
    return 0
}

# A relative path from the manifest or our own code: refuse absolute paths and "..".
wwrt_safe_rel() {
    case $1 in
        '' | /* | .. | ../* | */.. | */../*) return 1 ;;
    esac
    return 0
}

# ---- confinement: where NEWROOT/REL is, as the node will see it

WWRT_MAXLINKS=40

# wwrt_path REL [all]: resolves NEWROOT/REL component by component, the way the kernel will once
# NEWROOT is the node's / (as chroot and systemd's --root do). Each component that is a symbolic
# link is read and its target resolved in turn, inside NEWROOT: an absolute target starts again
# at NEWROOT, '..' never goes above NEWROOT. The host's own folders are therefore never reached,
# whatever links the image holds (an image with etc/cron.d -> /etc/cron.d must not put the
# node's jobs into the master's /etc/cron.d). The last component is followed only with "all"
# (folders we create or enter, files we read); without it the name itself is returned, so that a
# link at a name we write is replaced and one at a name we remove is removed, never followed.
# Sets WWRT_R (the result relative to NEWROOT, no leading /) and WWRT_P (NEWROOT/WWRT_R). A cycle
# (more than WWRT_MAXLINKS links) or a link that cannot be read: one line, status 1.
wwrt_path() {
    _r_todo=$1
    _r_done=
    _r_links=0
    while [ -n "$_r_todo" ]; do
        case $_r_todo in
            */*)
                _r_c=${_r_todo%%/*}
                _r_todo=${_r_todo#*/}
                ;;
            *)
                _r_c=$_r_todo
                _r_todo=
                ;;
        esac
        case $_r_c in
            '' | .) continue ;;
            ..)
                # _r_done holds no link (each was followed), so its parent is plain text
                case $_r_done in */*) _r_done=${_r_done%/*} ;; *) _r_done= ;; esac
                continue
                ;;
        esac
        _r_next=${_r_done:+$_r_done/}$_r_c
        if [ -L "$WWRT_ROOT/$_r_next" ] && { [ -n "$_r_todo" ] || [ "${2:-}" = all ]; }; then
            _r_links=$((_r_links + 1))
            if [ "$_r_links" -gt "$WWRT_MAXLINKS" ]; then
                wwrt_err "$WWRT_ROOT/$1: more than $WWRT_MAXLINKS symbolic links on the way (a cycle?) inside ${WWRT_ROOT:-/}"
                return 1
            fi
            if ! _r_l=$(readlink "$WWRT_ROOT/$_r_next" 2>/dev/null) || [ -z "$_r_l" ]; then
                wwrt_err "cannot read the symbolic link $WWRT_ROOT/$_r_next (is readlink there?): not following it"
                return 1
            fi
            case $_r_l in /*) _r_done= ;; esac
            _r_todo=$_r_l${_r_todo:+/$_r_todo}
            continue
        fi
        _r_done=$_r_next
    done
    WWRT_R=$_r_done
    WWRT_P=$WWRT_ROOT/$_r_done
}

# Records TYPE and the resolved REL in the manifest (the manifest lists where things really are).
wwrt_track_at() { # TYPE REL
    wwrt_path "$2" || return 1
    wwrt_track "$1 $WWRT_R"
}

# wwrt_mkdir REL [check]: creates NEWROOT/REL and its missing parents where the node will see
# them (a link on the way is followed inside NEWROOT), recording the folders we created; sets
# WWRT_P. With "check" it creates nothing and only fails (one line) when it could not.
wwrt_mkdir() {
    wwrt_path "$1" all || return 1
    _m_todo=$WWRT_R
    _m_done=
    while [ -n "$_m_todo" ]; do
        case $_m_todo in
            */*)
                _m_c=${_m_todo%%/*}
                _m_todo=${_m_todo#*/}
                ;;
            *)
                _m_c=$_m_todo
                _m_todo=
                ;;
        esac
        _m_done=${_m_done:+$_m_done/}$_m_c
        _m_p=$WWRT_ROOT/$_m_done
        if [ -d "$_m_p" ] && [ ! -L "$_m_p" ]; then
            # ours from an earlier run: still ours
            if [ "${2:-}" != check ] && wwrt_in "d $_m_done" "$WWRT_OLD" && ! wwrt_in "d $_m_done" "$WWRT_NEW"; then
                wwrt_track "d $_m_done"
            fi
            continue
        fi
        if [ -e "$_m_p" ] || [ -L "$_m_p" ]; then
            wwrt_err "$_m_p is not a directory (needed for ${WWRT_ROOT:-}/$1)"
            return 1
        fi
        [ "${2:-}" = check ] && return 0 # the rest is created by the install
        if ! { mkdir "$_m_p" && chmod 0755 "$_m_p"; }; then
            wwrt_err "could not create $_m_p"
            return 1
        fi
        wwrt_track "d $_m_done"
    done
    WWRT_P=$WWRT_ROOT/$WWRT_R
}

# Makes the way free for a new file or link at the resolved path $1: a symbolic link there is
# removed (mv and ln onto a link to a folder would put the new file *into* that folder, wherever
# it is), a real folder is an error.
wwrt_clear() { # PATH
    if [ -L "$1" ]; then
        rm -f "$1" || return 1
    elif [ -d "$1" ]; then
        wwrt_err "$1 is a directory"
        return 1
    fi
    return 0
}

# Writes stdin to NEWROOT/REL with MODE, atomically: a temporary name in the same (resolved)
# folder, created exclusively (set -C: a name planted since is not written through), then mv.
wwrt_put() { # REL MODE
    wwrt_path "$1" || return 1
    _p_dst=$WWRT_P
    _p_tmp="${_p_dst%/*}/.${_p_dst##*/}.wwrt$$"
    [ -d "$_p_dst" ] && [ ! -L "$_p_dst" ] && { wwrt_err "$_p_dst is a directory"; return 1; }
    rm -f "$_p_tmp" || return 1
    if (set -C && cat >"$_p_tmp") && chmod "$2" "$_p_tmp" && wwrt_clear "$_p_dst" && mv -f "$_p_tmp" "$_p_dst"; then
        return 0
    fi
    rm -f "$_p_tmp"
    wwrt_err "could not write $_p_dst"
    return 1
}

# Copies executable SRC to NEWROOT/REL unless an identical copy is already there.
wwrt_copy() { # SRC REL
    wwrt_path "$2" || return 1
    _c_dst=$WWRT_P
    _c_rel=$WWRT_R
    if [ -f "$_c_dst" ] && [ ! -L "$_c_dst" ] && cmp -s "$1" "$_c_dst" 2>/dev/null; then
        chmod 0755 "$_c_dst" || return 1
    else
        _c_tmp="${_c_dst%/*}/.${_c_dst##*/}.wwrt$$"
        [ -d "$_c_dst" ] && [ ! -L "$_c_dst" ] && { wwrt_err "$_c_dst is a directory"; return 1; }
        rm -f "$_c_tmp"
        if ! { (set -C && cat <"$1" >"$_c_tmp") && chmod 0755 "$_c_tmp" && wwrt_clear "$_c_dst" && mv -f "$_c_tmp" "$_c_dst"; }; then
            rm -f "$_c_tmp"
            wwrt_err "could not install $_c_dst"
            return 1
        fi
    fi
    wwrt_track "x $_c_rel"
}

# Makes NEWROOT/REL a symbolic link to TARGET (replacing a file or link, never a directory).
# TARGET is written as given: it is resolved by the node, inside its own root.
wwrt_link() { # TARGET REL
    wwrt_path "$2" || return 1
    _l_dst=$WWRT_P
    if [ -L "$_l_dst" ] && [ "$(readlink "$_l_dst" 2>/dev/null)" = "$1" ]; then
        wwrt_track "l $WWRT_R"
        return 0
    fi
    wwrt_clear "$_l_dst" || return 1
    if ! { rm -f "$_l_dst" && ln -s "$1" "$_l_dst"; }; then
        wwrt_err "could not link $_l_dst"
        return 1
    fi
    wwrt_track "l $WWRT_R"
}

# ---- /warewulf/config

# True when a config line is one of ours: our mark, KEY=... or "export KEY" for our keys.
wwrt_cfg_ours() {
    _o_t=${1#"${1%%[![:space:]]*}"}
    case $_o_t in "# $WWRT_MARK"*) return 0 ;; esac
    for _o_k in $WWRT_KEYS WWHTTP; do
        case $_o_t in
            "$_o_k="* | "export $_o_k" | "export $_o_k"[[:space:]]*) return 0 ;;
        esac
    done
    return 1
}

# Copies stdin to stdout without our lines.
wwrt_cfg_filter() {
    while IFS= read -r _f_line || [ -n "$_f_line" ]; do
        wwrt_cfg_ours "$_f_line" || printf '%s\n' "$_f_line"
    done
}

# Rewrites NEWROOT/warewulf/config: other lines kept, our keys (list in $1) appended.
wwrt_write_config() { # KEYS
    # the lines kept are read where the node reads them (a link there is followed, inside NEWROOT)
    wwrt_path warewulf/config all || return 1
    _w_cfg=$WWRT_P
    {
        if [ -f "$_w_cfg" ]; then wwrt_cfg_filter <"$_w_cfg" || exit 1; fi
        if [ -n "$1" ]; then
            printf '# %s: the keys below are rewritten by the Warewulf runtime-services step; other lines are kept\n' "$WWRT_MARK"
            for _w_k in $1; do
                eval "_w_v=\${$_w_k-}"
                case $_w_v in *"$WWRT_NL"*)
                    wwrt_say "newline in $_w_k replaced by a space"
                    _w_v=$(printf '%s' "$_w_v" | tr '\n' ' ')
                    ;;
                esac
                printf '%s=%s\nexport %s\n' "$_w_k" "$(wwrt_quote "$_w_v")" "$_w_k"
            done
        fi
    } | wwrt_put warewulf/config 0644 || return 1
    wwrt_track_at c warewulf/config
}

# Removes our keys from the config; deletes it when nothing else is left.
wwrt_strip_config() {
    wwrt_path warewulf/config all || return 1
    _s_cfg=$WWRT_P
    [ -f "$_s_cfg" ] || return 0
    _s_rest=$(wwrt_cfg_filter <"$_s_cfg") || return 1
    case $_s_rest in
        *[![:space:]]*) printf '%s\n' "$_s_rest" | wwrt_put warewulf/config 0644 ;;
        *)
            wwrt_path warewulf/config || return 1
            rm -f "$WWRT_P"
            ;;
    esac
}

# ---- settings of the node

# wwrt_conf_get FILE KEY: prints the value of the last "KEY=value" line of FILE, read as data and
# never run: /etc/network.conf is written from DHCP answers, so sourcing it would run whatever
# a DHCP server put there ($(...), `...`). Optional "export ", surrounding blanks, and one pair
# of single or double quotes around the value are removed; nothing else is interpreted.
# Status 1 when no line sets KEY.
wwrt_conf_get() {
    [ -r "$1" ] || return 1
    _g_found=
    _g_val=
    while IFS= read -r _g_line || [ -n "$_g_line" ]; do
        _g_line=${_g_line#"${_g_line%%[![:space:]]*}"}
        _g_line=${_g_line#export[[:space:]]}
        _g_line=${_g_line#"${_g_line%%[![:space:]]*}"}
        case $_g_line in "$2="*) ;; *) continue ;; esac
        _g_v=${_g_line#"$2="}
        _g_v=${_g_v%"${_g_v##*[![:space:]]}"}
        case $_g_v in
            \'*\')
                _g_v=${_g_v#\'}
                _g_v=${_g_v%\'}
                ;;
            \"*\")
                _g_v=${_g_v#\"}
                _g_v=${_g_v%\"}
                ;;
        esac
        _g_found=1
        _g_val=$_g_v
    done <"$1"
    [ -n "$_g_found" ] || return 1
    printf '%s' "$_g_val"
}

# True when $1 looks like a WWMASTER: host or host:port, comma-separated (names, IPv4, [IPv6]).
wwrt_master_ok() {
    case $1 in
        '' | *[!]A-Za-z0-9.:,_[-]*) return 1 ;;
    esac
    return 0
}

# The master, from the first source that has one (PROTOCOL 1): the environment, then
# /warewulf/config, then DHCP_SERVER in /etc/network.conf, then wwmaster= on the kernel command
# line (the last one there wins). Files are read as data, never sourced. A value that is not a
# list of host[:port] is ignored with one line, and the next source is asked.
wwrt_find_master() {
    if [ -n "${WWMASTER:-}" ]; then
        if wwrt_master_ok "$WWMASTER"; then
            export WWMASTER
            return 0
        fi
        wwrt_say "WWMASTER from the environment is not a list of host[:port]: ignored"
    fi
    WWMASTER=
    if _m_v=$(wwrt_conf_get "$WWRT_HOST/warewulf/config" WWMASTER) && [ -n "$_m_v" ]; then
        wwrt_master_from "$_m_v" "WWMASTER in $WWRT_HOST/warewulf/config"
    fi
    if [ -z "$WWMASTER" ] && _m_v=$(wwrt_conf_get "$WWRT_HOST/etc/network.conf" DHCP_SERVER) && [ -n "$_m_v" ]; then
        wwrt_master_from "$_m_v" "DHCP_SERVER in $WWRT_HOST/etc/network.conf"
    fi
    if [ -z "$WWMASTER" ] && [ -r "$WWRT_HOST/proc/cmdline" ]; then
        _m_line=$(cat "$WWRT_HOST/proc/cmdline")
        _m_v=
        set -f
        for _m_w in $_m_line; do
            case $_m_w in wwmaster=?*) _m_v=${_m_w#wwmaster=} ;; esac
        done
        set +f
        [ -n "$_m_v" ] && wwrt_master_from "$_m_v" "wwmaster= on the kernel command line"
    fi
    [ -n "$WWMASTER" ] || return 1
    export WWMASTER
}

wwrt_master_from() { # VALUE WHERE: takes VALUE as WWMASTER when it is one
    if wwrt_master_ok "$1"; then
        WWMASTER=$1
    else
        wwrt_say "$2 is not a list of host[:port]: ignored"
    fi
}

# Sets WWRT_CFGKEYS, the keys to write to the config.
wwrt_config_keys() {
    if [ -z "${WWHTTP:-}" ] && [ "${WWTRANSPORT:-}" = "https" ]; then
        WWHTTP=https
    fi
    if [ "$WWRT_MODE" = boot ]; then
        WWTRANSPORT=${WWTRANSPORT:-http}
        WWRT_CFGKEYS=$WWRT_KEYS
    else
        # image build: the node's values are unknown; write only the ones given
        WWRT_CFGKEYS=
        for _k in $WWRT_KEYS; do
            eval "[ -n \"\${$_k:-}\" ]" && WWRT_CFGKEYS="$WWRT_CFGKEYS $_k"
        done
    fi
    if [ -n "${WWHTTP:-}" ]; then WWRT_CFGKEYS="$WWRT_CFGKEYS WWHTTP"; fi
    WWRT_CFGKEYS=${WWRT_CFGKEYS# }
}

# ---- executables and their C runtime

wwrt_arch_name() {
    case $1 in
        x86_64 | amd64 | x64) echo linux-x64 ;;
        aarch64 | arm64) echo linux-arm64 ;;
        linux-*) echo "$1" ;;
        *) echo "linux-$1" ;;
    esac
}

wwrt_arch() { wwrt_arch_name "${WWRUNTIME_ARCH:-$(uname -m 2>/dev/null)}"; }

# The loader's file name and the ELF machine byte (e_machine, hex) of an architecture.
wwrt_arch_loader() {
    case $1 in
        linux-x64) echo 'ld-linux-x86-64.so.2 3e' ;;
        linux-arm64) echo 'ld-linux-aarch64.so.1 b7' ;;
        *) return 1 ;;
    esac
}

# Sets WWRT_BIN (the architecture folder: bin/, lib/, SHA256SUMS, NOTICE), WWRT_ARCH and,
# through wwrt_check_runtime, WWRT_LIBS. Nothing is installed when this fails.
wwrt_find_runtime() {
    WWRT_ARCH=$(wwrt_arch)
    if ! wwrt_arch_loader "$WWRT_ARCH" >/dev/null; then
        wwrt_err "unknown architecture $WWRT_ARCH (known: linux-x64, linux-arm64)"
        return 1
    fi
    if [ "$WWRT_MODE" = boot ] && [ -n "${WWRUNTIME_ARCH:-}" ]; then
        # at boot the executables must run on this very node
        _b_host=$(wwrt_arch_name "$(uname -m 2>/dev/null)")
        if [ "$_b_host" != "$WWRT_ARCH" ]; then
            wwrt_err "WWRUNTIME_ARCH=$WWRUNTIME_ARCH: $WWRT_ARCH executables cannot run on this $_b_host node"
            return 1
        fi
    fi
    WWRT_CHECKED=
    _b_src=${WWRUNTIME_SOURCE:-${WWRUNTIME_HOME:-/warewulf/wwruntime}}
    _b_src=${_b_src%/}
    for _b_d in "$_b_src/$WWRT_ARCH" "$_b_src"; do
        if [ -f "$_b_d/bin/wwruntime" ] || [ -f "$_b_d/bin/wwruntime.xz" ]; then
            WWRT_BIN=$_b_d
            wwrt_unpack_runtime "$_b_d" || return 1
            wwrt_check_runtime
            return
        fi
        # the lean capability: the manifest of a blob on the master. Fetched at boot only: an
        # image build would download into the capability's own folder from whatever master
        # this host names.
        if [ -f "$_b_d/$WWRT_LEAN_MANIFEST" ]; then
            if [ "$WWRT_MODE" != boot ]; then
                _b_blob=$(sed -n 's/^blob  *//p' "$_b_d/$WWRT_LEAN_MANIFEST" | head -n 1)
                wwrt_err "$_b_d is a lean capability folder (its runtime ${_b_blob:-blob} is fetched from the master at boot): install into an image from the full capability, the release tarball or dist/"
                return 1
            fi
            wwrt_fetch_runtime "$_b_d" "$WWRT_ARCH" || return 1
            wwrt_check_runtime
            return
        fi
    done
    if [ -f "$_b_src/$WWRT_ARCH/wwruntime" ] || [ -f "$_b_src/wwruntime" ]; then
        wwrt_err "$_b_src has executables without their C runtime (no bin/ and lib/): rebuild them"
    else
        wwrt_err "no executables for $WWRT_ARCH in $_b_src (expected $_b_src/$WWRT_ARCH/bin/wwruntime)"
    fi
    return 1
}

# Checks WWRT_BIN before anything is installed. Every file the install copies (the libraries
# SHA256SUMS lists under lib/, the executables of bin/ this install uses, NOTICE) must be listed
# in SHA256SUMS and match it: a truncated copy (a full disk when the capability was unpacked, a
# cut transfer) is refused here instead of being installed and failing on the node. lib/ must
# also hold the loader of WWRT_ARCH, and bin/wwruntime must be an executable of WWRT_ARCH
# (checked with od where there is one). The executables name /warewulf/lib/LOADER as their
# interpreter: without a matching runtime there they fail with a bare "No such file or
# directory" or a loader error, so refuse here instead. Without sha256sum (nor busybox's
# applet) nothing can be checked, so nothing is installed either.
wwrt_check_runtime() {
    # shellcheck disable=SC2046
    set -- $(wwrt_arch_loader "$WWRT_ARCH")
    _k_ld=$1
    _k_mach=$2
    _k_sums=$WWRT_BIN/SHA256SUMS
    if [ ! -f "$WWRT_BIN/lib/$_k_ld" ]; then
        _k_has=
        for _k_f in "$WWRT_BIN"/lib/ld-linux-*; do [ -f "$_k_f" ] && _k_has=" (it has ${_k_f##*/})"; done
        wwrt_err "$WWRT_BIN is not a $WWRT_ARCH runtime folder: no lib/$_k_ld$_k_has"
        return 1
    fi
    if [ ! -f "$_k_sums" ]; then
        wwrt_err "$_k_sums is missing: cannot check the runtime in $WWRT_BIN"
        return 1
    fi
    wwrt_sha_tool || return 1
    WWRT_LIBS=
    while read -r _k_sum _k_rel; do
        _k_rel=${_k_rel#\*}
        case $_k_rel in lib/*) ;; *) continue ;; esac
        _k_name=${_k_rel#lib/}
        case $_k_name in '' | */* | .*)
            wwrt_err "$_k_sums: bad entry '$_k_rel'"
            return 1
            ;;
        esac
        if [ ! -f "$WWRT_BIN/$_k_rel" ]; then
            wwrt_err "$WWRT_BIN/$_k_rel is missing: the C runtime there is incomplete"
            return 1
        fi
        wwrt_verify "$_k_rel" 'the library the executables were built with' || return 1
        WWRT_LIBS="$WWRT_LIBS $_k_name"
    done <"$_k_sums"
    case "$WWRT_LIBS " in
        *" $_k_ld "*) ;;
        *)
            wwrt_err "$_k_sums does not list lib/$_k_ld"
            return 1
            ;;
    esac
    # the architecture first: it says more than a differing sum would
    if command -v od >/dev/null 2>&1; then
        # shellcheck disable=SC2046
        set -- $(od -An -tx1 -j18 -N1 "$WWRT_BIN/bin/wwruntime" 2>/dev/null)
        if [ -n "${1:-}" ] && [ "$1" != "$_k_mach" ]; then
            wwrt_err "$WWRT_BIN/bin/wwruntime is not a $WWRT_ARCH executable (ELF machine 0x$1)"
            return 1
        fi
    fi
    # the executables this install copies, each checked once
    _k_done=${WWRT_CHECKED:-}
    for _k_t in $(wwrt_bin_sources); do
        case " $_k_done " in *" $_k_t "*) continue ;; esac
        wwrt_verify "bin/$_k_t" 'the executable of this build' || return 1
        _k_done="$_k_done $_k_t"
    done
    if [ -f "$WWRT_BIN/NOTICE" ]; then
        wwrt_verify NOTICE 'the notice of this build' || return 1
    elif wwrt_sum_of NOTICE; then
        wwrt_err "$WWRT_BIN/NOTICE is missing (SHA256SUMS lists it)"
        return 1
    fi
    return 0
}

# Sets WWRT_SHA: sha256sum, or busybox's applet. Without either nothing can be checked: one line.
wwrt_sha_tool() {
    if command -v sha256sum >/dev/null 2>&1; then
        WWRT_SHA=sha256sum
    elif command -v busybox >/dev/null 2>&1 && busybox sha256sum </dev/null >/dev/null 2>&1; then
        WWRT_SHA=busybox
    else
        wwrt_err "no sha256sum here (nor busybox with its sha256sum applet): cannot check $WWRT_BIN against its SHA256SUMS, not installing"
        return 1
    fi
}

# Sets WWRT_H to the SHA256 of FILE (with WWRT_SHA's tool); status 1 when it cannot be read.
wwrt_sha_file() { # FILE
    if [ "$WWRT_SHA" = busybox ]; then
        WWRT_H=$(busybox sha256sum <"$1")
    else
        WWRT_H=$(sha256sum <"$1")
    fi || return 1
    WWRT_H=${WWRT_H%% *}
}

# Sets WWRT_UNXZ to a command that decompresses xz from stdin to stdout: unxz, xz, or busybox's
# applet (the genuine initramfs has only the last). Without one: one line naming WHAT, status 1.
wwrt_unxz_tool() { # WHAT
    if command -v unxz >/dev/null 2>&1; then
        WWRT_UNXZ='unxz -c'
    elif command -v xz >/dev/null 2>&1; then
        WWRT_UNXZ='xz -dc'
    elif command -v busybox >/dev/null 2>&1 && busybox unxz -c </dev/null >/dev/null 2>&1; then
        WWRT_UNXZ='busybox unxz -c'
    else
        wwrt_err "no unxz here (nor xz, nor busybox with its unxz applet): cannot unpack $1"
        return 1
    fi
}

# Sets WWRT_FREE to the KiB free on the file system holding FOLDER, or empty when that is not
# known: no df, an answer that is not a number, or a file system that reports 0 KiB in all
# (ramfs: no limit df can see, so no reason to refuse).
wwrt_free_kib() { # FOLDER
    WWRT_FREE=
    command -v df >/dev/null 2>&1 || return 0
    _k_df=$(df -P -k "$1" 2>/dev/null | tail -n 1 | while read -r _ _k_t _ _k_a _; do echo "$_k_t $_k_a"; done)
    case $_k_df in
        '0 '* | '' | *[!0-9\ ]* | *' ') ;;
        *) WWRT_FREE=${_k_df#* } ;;
    esac
}

# Sets WWRT_SUM to the sum SHA256SUMS lists for REL ("HASH  REL" or "HASH *REL"); status 1 when
# it lists none.
wwrt_sum_of() { # REL
    WWRT_SUM=
    while read -r _s_sum _s_rel; do
        if [ "${_s_rel#\*}" = "$1" ]; then
            WWRT_SUM=$_s_sum
            return 0
        fi
    done <"$WWRT_BIN/SHA256SUMS"
    return 1
}

# Checks WWRT_BIN/REL (or FILE, a copy of it being made) against SHA256SUMS: one line and status 1
# when it is not listed or differs.
wwrt_verify() { # REL WHAT [FILE]
    _v_file=${3:-$WWRT_BIN/$1}
    if ! wwrt_sum_of "$1"; then
        wwrt_err "$WWRT_BIN/$1 is not listed in $WWRT_BIN/SHA256SUMS: cannot check it, not installing"
        return 1
    fi
    wwrt_sha_file "$_v_file" || {
        wwrt_err "could not read $_v_file"
        return 1
    }
    if [ "$WWRT_H" != "$WWRT_SUM" ]; then
        wwrt_err "$WWRT_BIN/$1 is not $2 (SHA256SUMS differs): damaged or truncated, not installing"
        return 1
    fi
}

# The capability carries the executable xz-compressed, as bin/wwruntime.xz (27 MB instead of 109 MB
# in every node's initfs.gz; busybox's unxz reads it: plain LZMA2, no BCJ filter). Unpacks it as
# DIR/bin/wwruntime where it lies (the initramfs, in RAM; the transport does this at the first
# tool it runs, the step when the transport did not): the blob is checked against SHA256SUMS, then
# unpacked into a temporary name in DIR/bin, checked again, and only then renamed whole. Any
# failure (a truncated or damaged blob, no space left, no decompressor) is one line and status
# 1, with nothing left at DIR/bin/wwruntime nor anywhere in NEWROOT. Nothing to do when
# bin/wwruntime is already there.
wwrt_unpack_runtime() { # DIR
    WWRT_BIN=$1
    _u_dst=$1/bin/wwruntime
    [ -f "$_u_dst" ] && return 0
    if [ ! -f "$1/SHA256SUMS" ]; then
        wwrt_err "$1/SHA256SUMS is missing: cannot check $1/bin/wwruntime.xz"
        return 1
    fi
    wwrt_sha_tool || return 1
    wwrt_verify bin/wwruntime.xz 'the packed executable of this build' || return 1
    wwrt_unxz_tool "$WWRT_BIN/bin/wwruntime.xz" || return 1
    # shellcheck disable=SC2086 # "unxz -c" and the like
    set -- $WWRT_UNXZ
    _u_tmp=$WWRT_BIN/bin/.wwruntime.wwrt$$
    rm -f "$_u_tmp"
    # stdout into the temporary, the decompressor's own message kept for our one line
    if _u_msg=$( (set -C && "$@" <"$WWRT_BIN/bin/wwruntime.xz" >"$_u_tmp") 2>&1); then
        if wwrt_verify bin/wwruntime 'the executable of this build' "$_u_tmp" && chmod 0755 "$_u_tmp" && mv -f "$_u_tmp" "$_u_dst"; then
            WWRT_CHECKED=' wwruntime' # wwrt_check_runtime need not read it again
            return 0
        fi
        rm -f "$_u_tmp"
        return 1
    fi
    rm -f "$_u_tmp"
    _u_msg=$(printf '%s' "$_u_msg" | head -n 1)
    wwrt_free_kib "$WWRT_BIN/bin"
    wwrt_err "could not unpack $WWRT_BIN/bin/wwruntime.xz into $WWRT_BIN/bin (${_u_msg:-$1 failed}; ${WWRT_FREE:-?} KiB free there): not installing"
    return 1
}

# ---- the lean capability (opt-in, issue 20 variant c): the runtime fetched from the master
# Its ARCH folder holds only the launcher and the manifest ARCH/RUNTIME ("KEY VALUE" lines: blob,
# machine, size, sha256, unpacked); the blob (build/capability.mjs: ARCH/{bin/wwruntime, lib/*,
# NOTICE, SHA256SUMS} as a ustar archive, xz-packed) lies on the master as
# /var/lib/warewulf/bootstrap/wwruntime/MACHINE/BLOB, which Apache serves as
# http://MASTER/WW/bootstrap/wwruntime/MACHINE/BLOB (the alias iPXE fetches initfs.gz from; no
# privileged-port rule there, so busybox wget can fetch it).
WWRT_LEAN_MANIFEST=RUNTIME

# wwrt_fetch_one URL FILE SECONDS: fetches URL into FILE with curl or wget (WWRT_FTOOL), killed
# after SECONDS by a watchdog of its own (a background sleep, then kill: no `timeout` applet
# needed). Status 0 fetched; else WWRT_WHY says why, and FILE is gone.
wwrt_fetch_one() {
    rm -f "$2" "$2.err" "$2.late"
    if [ "$WWRT_FTOOL" = curl ]; then
        if [ -n "$WWRT_FCA" ]; then
            curl -fsS -g --cacert "$WWRT_FCA" -o "$2" "$1" 2>"$2.err" &
        else
            curl -fsS -g -o "$2" "$1" 2>"$2.err" &
        fi
    else
        # shellcheck disable=SC2086 # "wget" or "busybox wget"
        $WWRT_FTOOL -q -O "$2" "$1" 2>"$2.err" &
    fi
    _o_pid=$!
    # The watchdog: its sleep is killed with it (the trap), and it holds none of our output open.
    (
        trap 'kill "$_o_s" 2>/dev/null; exit 0' TERM
        sleep "$3" &
        _o_s=$!
        wait "$_o_s" && : >"$2.late" && kill "$_o_pid"
    ) </dev/null >/dev/null 2>&1 &
    _o_wd=$!
    wait "$_o_pid" 2>/dev/null # no "Terminated" line for a fetch the watchdog ended
    _o_rc=$?
    kill "$_o_wd" 2>/dev/null
    wait "$_o_wd" 2>/dev/null
    if [ -f "$2.late" ]; then
        WWRT_WHY="no complete answer within $3 s"
    elif [ "$_o_rc" != 0 ]; then
        WWRT_WHY=
        [ -f "$2.err" ] && IFS= read -r WWRT_WHY <"$2.err"
        WWRT_WHY=${WWRT_WHY#curl: (*) }
        WWRT_WHY=${WWRT_WHY#wget: }
        WWRT_WHY=${WWRT_WHY:-${WWRT_FTOOL##* } exit status $_o_rc}
        case $WWRT_WHY in *404*) WWRT_WHY="$WWRT_WHY (the blob is not installed on that master)" ;; esac
    fi
    rm -f "$2.err" "$2.late"
    [ "$_o_rc" = 0 ] && [ ! -f "$2.late" ] && return 0
    rm -f "$2"
    return 1
}

# wwrt_fetch_runtime DIR ARCH: DIR is a lean ARCH folder (the manifest DIR/RUNTIME, no
# bin/wwruntime). Fetches the blob the manifest names from each master of WWMASTER in turn (a
# comma or blank separated list of host[:port]; the first that serves it whole wins) with curl
# when there is one (the genuine development initramfs has a static curl), else wget (busybox's);
# every fetch is bounded by a watchdog, all of them together by WWRUNTIME_FETCH_TIMEOUT seconds
# (default 300; each master gets an equal share of what is left). http, as iPXE fetches
# initfs.gz; https only with WWHTTP=https and curl (verified against /etc/ca-bundle.crt when it is
# there): busybox wget cannot verify a certificate. Either way the blob is checked against the
# manifest's size and SHA256, which came in initfs.gz itself. Before any fetch: room for the blob
# and its unpacked files in DIR (df; a file system reporting 0 KiB in all, ramfs, is taken as
# unknown). The blob goes to a temporary name in DIR (the initramfs: RAM), is unpacked into a
# temporary folder there, every file checked against the blob's own SHA256SUMS, and only then
# are lib/, NOTICE, SHA256SUMS and, last, bin/ renamed into DIR. Any failure: one line naming
# the URL(s) and the cause, status 1, nothing left in DIR but what the capability brought.
# Nothing to do when DIR/bin/wwruntime is there (the transport fetched it already).
wwrt_fetch_runtime() {
    WWRT_BIN=$1
    _f_dir=$1
    _f_arch=$2
    [ -f "$_f_dir/bin/wwruntime" ] && return 0
    _f_man=$_f_dir/$WWRT_LEAN_MANIFEST
    _f_blob=
    _f_mach=
    _f_size=
    _f_sum=
    _f_unp=
    if [ -f "$_f_man" ]; then
        while read -r _f_k _f_v _; do
            case $_f_k in
                blob) _f_blob=$_f_v ;;
                machine) _f_mach=$_f_v ;;
                size) _f_size=$_f_v ;;
                sha256) _f_sum=$_f_v ;;
                unpacked) _f_unp=$_f_v ;;
            esac
        done <"$_f_man"
    fi
    _f_ok=1
    case $_f_blob in '' | .* | *[!A-Za-z0-9._+-]*) _f_ok= ;; esac
    case $_f_mach in '' | *[!A-Za-z0-9_]*) _f_ok= ;; esac
    case $_f_size in '' | *[!0-9]* | ???????????*) _f_ok= ;; esac
    case $_f_unp in '' | *[!0-9]* | ???????????*) _f_ok= ;; esac
    case $_f_sum in *[!0-9a-f]* | '') _f_ok= ;; esac
    [ "${#_f_sum}" = 64 ] || _f_ok=
    if [ -z "$_f_ok" ]; then
        wwrt_err "$_f_man is missing or not a runtime manifest (blob, machine, size, sha256, unpacked): cannot fetch the runtime"
        return 1
    fi
    wwrt_sha_tool || return 1
    if command -v curl >/dev/null 2>&1; then
        WWRT_FTOOL=curl
    elif command -v wget >/dev/null 2>&1; then
        WWRT_FTOOL=wget
    elif command -v busybox >/dev/null 2>&1 && busybox wget --help >/dev/null 2>&1; then
        WWRT_FTOOL='busybox wget'
    else
        wwrt_err "no curl or wget here: cannot fetch the runtime $_f_blob"
        return 1
    fi
    wwrt_unxz_tool "the runtime $_f_blob" || return 1
    WWRT_FCA=
    _f_scheme=http
    if [ "${WWHTTP:-}" = https ] && [ "$WWRT_FTOOL" = curl ]; then
        _f_scheme=https
        [ -f "${WWRT_HOST:-}/etc/ca-bundle.crt" ] && WWRT_FCA=${WWRT_HOST:-}/etc/ca-bundle.crt
    fi
    if [ -z "${WWMASTER:-}" ]; then
        WWRT_HOST=${WWRT_HOST-${WWRUNTIME_HOSTROOT:-}}
        WWRT_HOST=${WWRT_HOST%/}
        if ! wwrt_find_master; then
            wwrt_err "no master known (WWMASTER, wwmaster=): cannot fetch the runtime $_f_blob"
            return 1
        fi
    fi
    wwrt_number WWRUNTIME_FETCH_TIMEOUT "${WWRUNTIME_FETCH_TIMEOUT:-}" 1 86400 300
    _f_bound=$WWRT_NUM
    # room for the blob and its files side by side (the blob goes once they are unpacked)
    _f_need=$((_f_size / 1024 + _f_unp / 1024 + 2))
    wwrt_free_kib "$_f_dir"
    if [ -n "$WWRT_FREE" ] && [ "$WWRT_FREE" -lt "$_f_need" ]; then
        wwrt_err "no space for the runtime $_f_blob in $_f_dir: $_f_need KiB needed, $WWRT_FREE KiB free there: not fetching it"
        return 1
    fi
    _f_file=$_f_dir/.wwruntime-fetch.$$
    _f_tmpd=$_f_dir/.wwruntime-unpack.$$
    _f_ifs=$IFS
    IFS=', '
    set -f
    # shellcheck disable=SC2086 # the list, split at commas and blanks
    set -- $WWMASTER
    set +f
    IFS=$_f_ifs
    _f_start=$(date +%s 2>/dev/null) || _f_start=
    _f_why=
    _f_url=
    _f_got=
    while [ "$#" -gt 0 ]; do
        _f_url="$_f_scheme://$1/WW/bootstrap/wwruntime/$_f_mach/$_f_blob"
        # an equal share of the time left for each master still to ask
        _f_left=$_f_bound
        _f_now=$(date +%s 2>/dev/null) || _f_now=
        case "$_f_start$_f_now" in *[!0-9]* | '') ;; *) _f_left=$((_f_bound - (_f_now - _f_start))) ;; esac
        if [ "$_f_left" -lt 1 ]; then
            _f_why="$_f_why${_f_why:+; }$_f_url: not tried, the $_f_bound s bound is spent"
            shift
            continue
        fi
        _f_share=$((_f_left / $#))
        [ "$_f_share" -ge 1 ] || _f_share=1
        shift
        if ! wwrt_fetch_one "$_f_url" "$_f_file" "$_f_share"; then
            _f_why="$_f_why${_f_why:+; }$_f_url: $WWRT_WHY"
            continue
        fi
        _f_n=$(wc -c <"$_f_file")
        _f_n=$((_f_n + 0))
        if [ "$_f_n" != "$_f_size" ]; then
            _f_why="$_f_why${_f_why:+; }$_f_url: truncated or wrong blob ($_f_n bytes, the manifest says $_f_size)"
            rm -f "$_f_file"
            continue
        fi
        if ! wwrt_sha_file "$_f_file" || [ "$WWRT_H" != "$_f_sum" ]; then
            _f_why="$_f_why${_f_why:+; }$_f_url: damaged blob (SHA256 differs from the manifest's)"
            rm -f "$_f_file"
            continue
        fi
        _f_got=1
        break
    done
    if [ -z "$_f_got" ]; then
        rm -f "$_f_file"
        wwrt_fetch_fail "could not fetch the runtime: $_f_why: not installing"
        return 1
    fi
    # unpacked beside DIR's own files; the decompressor's status through a file (no pipefail in sh)
    rm -rf "$_f_tmpd" "$_f_tmpd.rc"
    mkdir "$_f_tmpd" || {
        rm -f "$_f_file"
        wwrt_fetch_fail "could not create $_f_tmpd: not installing"
        return 1
    }
    # shellcheck disable=SC2086 # "unxz -c" and the like
    _f_msg=$({ $WWRT_UNXZ <"$_f_file" 2>"$_f_tmpd.err" || echo x >"$_f_tmpd.rc"; } | { cd "$_f_tmpd" && tar -xf - 2>&1 || echo x >>"$_f_tmpd.rc"; })
    rm -f "$_f_file"
    if [ -f "$_f_tmpd.rc" ]; then
        [ -s "$_f_tmpd.err" ] && _f_msg=$(cat "$_f_tmpd.err")
        _f_msg=$(printf '%s' "$_f_msg" | head -n 1)
        rm -rf "$_f_tmpd" "$_f_tmpd.rc" "$_f_tmpd.err"
        wwrt_fetch_fail "could not unpack $_f_url into $_f_dir (${_f_msg:-unxz or tar failed}): not installing"
        return 1
    fi
    rm -f "$_f_tmpd.err"
    if ! wwrt_fetch_check "$_f_tmpd/$_f_arch"; then
        rm -rf "$_f_tmpd"
        wwrt_fetch_fail "$_f_url: $WWRT_WHY: not installing"
        return 1
    fi
    # into place: bin/ last (its wwruntime says the runtime is there); undone on any failure
    _f_moved=
    for _f_n in lib NOTICE SHA256SUMS bin; do
        [ -e "$_f_tmpd/$_f_arch/$_f_n" ] || continue
        if rm -rf "${_f_dir:?}/$_f_n" && mv "$_f_tmpd/$_f_arch/$_f_n" "$_f_dir/$_f_n"; then
            _f_moved="$_f_moved $_f_n"
            continue
        fi
        for _f_m in $_f_moved; do rm -rf "${_f_dir:?}/$_f_m"; done
        rm -rf "$_f_tmpd"
        wwrt_fetch_fail "could not move the fetched runtime into $_f_dir: not installing"
        return 1
    done
    rm -rf "$_f_tmpd"
    WWRT_BIN=$_f_dir
    WWRT_CHECKED=' wwruntime' # checked above
    _f_end=$(date +%s 2>/dev/null) || _f_end=
    _f_t=
    case "$_f_start$_f_end" in *[!0-9]* | '') ;; *) _f_t=" in $((_f_end - _f_start)) s" ;; esac
    wwrt_say "fetched the runtime from $_f_url ($_f_size bytes$_f_t${_f_why:+; before: $_f_why})"
    return 0
}

# Checks an unpacked blob's ARCH folder: SHA256SUMS there lists bin/wwruntime, names only files
# inside it, and every file it lists matches; nothing else but folders is there. WWRT_WHY says why not.
wwrt_fetch_check() { # DIR
    WWRT_WHY=
    if [ ! -f "$1/SHA256SUMS" ] || [ ! -f "$1/bin/wwruntime" ]; then
        WWRT_WHY="not a runtime blob of ${1##*/} (no ${1##*/}/SHA256SUMS or ${1##*/}/bin/wwruntime in it)"
        return 1
    fi
    _c_n=0
    while read -r _c_sum _c_rel; do
        _c_rel=${_c_rel#\*}
        case $_c_rel in '' | /* | ../* | */../* | *'/..') WWRT_WHY="bad SHA256SUMS entry '$_c_rel'"; return 1 ;; esac
        if [ ! -f "$1/$_c_rel" ] || [ -L "$1/$_c_rel" ]; then
            WWRT_WHY="${1##*/}/$_c_rel is missing from the blob"
            return 1
        fi
        if ! wwrt_sha_file "$1/$_c_rel" || [ "$WWRT_H" != "$_c_sum" ]; then
            WWRT_WHY="${1##*/}/$_c_rel differs from the blob's SHA256SUMS"
            return 1
        fi
        _c_n=$((_c_n + 1))
    done <"$1/SHA256SUMS"
    grep -q '  bin/wwruntime$' "$1/SHA256SUMS" 2>/dev/null || {
        WWRT_WHY="the blob's SHA256SUMS does not list bin/wwruntime"
        return 1
    }
    # every file of the blob is listed (and SHA256SUMS itself)
    _c_all=$(find "$1" ! -type d | wc -l)
    if [ "$((_c_all + 0))" != "$((_c_n + 1))" ]; then
        WWRT_WHY="the blob holds $((_c_all + 0)) files, its SHA256SUMS lists $_c_n besides itself"
        return 1
    fi
    return 0
}

# The one line of a failed fetch: stderr (the step's log, the transport's console), and in the
# genuine initramfs also the console for the step (the provision handler sends its stderr to a log).
wwrt_fetch_fail() {
    wwrt_err "$1"
    if [ "${WWRT_MODE:-}" = boot ] && [ -z "${WWRT_HOST:-}" ] && [ -w /dev/console ]; then
        printf '\nwwruntime: ERROR: %s\n' "$1" >/dev/console 2>/dev/null
    fi
    return 0
}

# The names under WWRT_BIN/bin/ the install copies: wwruntime, or for standalone tools each
# tool's own executable where the folder has one (a capability carries only wwruntime: the
# multi-call executable picks its tool from its own name).
wwrt_bin_sources() {
    if [ -z "${WWRUNTIME_STANDALONE:-}" ]; then
        echo wwruntime
        return 0
    fi
    for _b_t in $WWRT_TOOLS; do
        if [ -f "$WWRT_BIN/bin/$_b_t" ]; then echo "$_b_t"; else echo wwruntime; fi
    done
}

# The runtime first (lib/), then the executables that need it (bin/).
wwrt_install_bin() {
    wwrt_mkdir warewulf/lib || return 1
    for _l in $WWRT_LIBS; do
        wwrt_copy "$WWRT_BIN/lib/$_l" "warewulf/lib/$_l" || return 1
    done
    if [ -f "$WWRT_BIN/NOTICE" ]; then
        wwrt_put warewulf/lib/NOTICE 0644 <"$WWRT_BIN/NOTICE" || return 1
        wwrt_track_at x warewulf/lib/NOTICE || return 1
    fi
    wwrt_mkdir warewulf/bin || return 1
    if [ -z "${WWRUNTIME_STANDALONE:-}" ]; then
        wwrt_copy "$WWRT_BIN/bin/wwruntime" warewulf/bin/wwruntime || return 1
        for _t in $WWRT_TOOLS; do
            wwrt_link wwruntime "warewulf/bin/$_t" || return 1
        done
        return 0
    fi
    # shellcheck disable=SC2046 # one word per tool, no blanks in them
    set -- $(wwrt_bin_sources)
    for _t in $WWRT_TOOLS; do
        wwrt_copy "$WWRT_BIN/bin/$1" "warewulf/bin/$_t" || return 1
        shift
    done
}

# ---- numbers

# Prints VALUE for a message: at most 64 characters, anything unprintable (a newline) as '?',
# so that a stray value still makes one line.
wwrt_show() { # VALUE
    _w_v=$1
    _w_rest=${_w_v#????????????????????????????????????????????????????????????????}
    [ "$_w_rest" != "$_w_v" ] && [ -n "$_w_rest" ] && _w_v="${_w_v%"$_w_rest"}..."
    if command -v tr >/dev/null 2>&1; then
        printf '%s' "$_w_v" | tr -c '[:print:]' '?'
    else
        printf '%s' "$_w_v"
    fi
}

# wwrt_number NAME VALUE MIN MAX DEFAULT: sets WWRT_NUM to VALUE read as a whole number of
# seconds in MIN..MAX, or to DEFAULT (with one warning line when VALUE is not empty). The one
# number grammar of the project (the tools read the same): ASCII digits only, no sign, nothing
# inside but digits, blanks around ignored; leading zeros allowed and dropped, read in base 10
# ("010" is ten, "09" is nine: never shell arithmetic, which reads them as octal or fails on
# them); more than 9 significant digits is out of range (so [ -gt ] only ever sees small numbers).
wwrt_number() {
    WWRT_NUM=$5
    [ -n "$2" ] || return 0
    _n_v=${2#"${2%%[![:space:]]*}"}
    _n_v=${_n_v%"${_n_v##*[![:space:]]}"}
    case $_n_v in
        '' | *[!0123456789]*) _n_v=x ;;
        *)
            _n_v=${_n_v#"${_n_v%%[!0]*}"}
            _n_v=${_n_v:-0}
            if [ "${#_n_v}" -gt 9 ] || [ "$_n_v" -lt "$3" ] || [ "$_n_v" -gt "$4" ]; then _n_v=x; fi
            ;;
    esac
    if [ "$_n_v" = x ]; then
        wwrt_say "$1='$(wwrt_show "$2")' is not a whole number of seconds in $3..$4, using $5"
        return 1
    fi
    WWRT_NUM=$_n_v
}

# ---- schedulers

# True when NEWROOT/REL exists as the node will see it (a dangling link counts: it names a file
# that the image provides by other means, e.g. busybox applets).
wwrt_exists() {
    wwrt_path "$1" 2>/dev/null || return 1
    [ -e "$WWRT_P" ] || [ -L "$WWRT_P" ]
}

# Prints cron or systemd.
wwrt_scheduler() {
    case ${WWRUNTIME_SCHEDULER:-auto} in
        cron | systemd) echo "$WWRUNTIME_SCHEDULER"; return 0 ;;
        auto) ;;
        *) wwrt_say "WWRUNTIME_SCHEDULER='$(wwrt_show "$WWRUNTIME_SCHEDULER")' unknown, using auto" ;;
    esac
    if wwrt_exists usr/lib/systemd/systemd || wwrt_exists lib/systemd/systemd; then
        for _s_d in usr/sbin sbin usr/bin; do
            for _s_n in crond cron; do
                if wwrt_exists "$_s_d/$_s_n"; then echo cron; return 0; fi
            done
        done
        echo systemd
        return 0
    fi
    echo cron
}

# Validated settings of the jobs: WWRT_SCHEDULE WWRT_ONCALENDAR WWRT_SPLAY
wwrt_job_settings() {
    WWRT_SCHEDULE='*/5 * * * *'
    if [ -n "${WWRUNTIME_SCHEDULE:-}" ]; then
        set -f
        # shellcheck disable=SC2086
        set -- $WWRUNTIME_SCHEDULE
        set +f
        case "$#:$*" in
            5:*[!0-9*/,\ -]*) wwrt_say "WWRUNTIME_SCHEDULE='$(wwrt_show "$WWRUNTIME_SCHEDULE")' invalid, using '$WWRT_SCHEDULE'" ;;
            5:*) WWRT_SCHEDULE="$*" ;;
            *) wwrt_say "WWRUNTIME_SCHEDULE='$(wwrt_show "$WWRUNTIME_SCHEDULE")' needs 5 fields, using '$WWRT_SCHEDULE'" ;;
        esac
    fi
    WWRT_ONCALENDAR='*:0/5'
    case ${WWRUNTIME_ONCALENDAR:-} in
        '') ;;
        *[!0-9A-Za-z*:/,.~\ -]*) wwrt_say "WWRUNTIME_ONCALENDAR='$(wwrt_show "$WWRUNTIME_ONCALENDAR")' invalid, using '$WWRT_ONCALENDAR'" ;;
        *) WWRT_ONCALENDAR=$WWRUNTIME_ONCALENDAR ;;
    esac
    wwrt_number WWGETFILES_INTERVAL "${WWGETFILES_INTERVAL:-}" 0 86400 180
    WWRT_SPLAY=$WWRT_NUM
    # A scheduled run must end before the next tick (the next tick retries; meanwhile the lock
    # makes it exit 1). cron starts the tool at the tick and its own start delay counts toward
    # --max-run; a systemd timer sleeps RandomizedDelaySec before starting it, so the service
    # gets what the delay leaves (at least 30 s).
    wwrt_number WWRUNTIME_MAX_RUN "${WWRUNTIME_MAX_RUN:-}" 1 86400 280
    WWRT_MAXRUN=$WWRT_NUM
    [ "$WWRT_SPLAY" -lt "$WWRT_MAXRUN" ] ||
        wwrt_say "WWGETFILES_INTERVAL=$WWRT_SPLAY is not below WWRUNTIME_MAX_RUN=$WWRT_MAXRUN: a run whose start delay outlasts its bound contacts no master"
    WWRT_MAXRUN_TIMER=$((WWRT_MAXRUN - WWRT_SPLAY))
    [ "$WWRT_MAXRUN_TIMER" -ge 30 ] || WWRT_MAXRUN_TIMER=30
}

wwrt_cmd_files() { # MAXRUN
    echo "mkdir -p $WWRT_LOGDIR; exec /warewulf/bin/wwgetfiles --max-run $1 >$WWRT_LOGDIR/wwgetfiles.log 2>&1"
}
wwrt_cmd_script() { # MAXRUN
    echo "mkdir -p $WWRT_LOGDIR; test -r /warewulf/config && . /warewulf/config; /warewulf/bin/wwgetscript runtime --max-run $1 2>$WWRT_LOGDIR/wwrunscript.log | /bin/sh"
}

wwrt_cron_file() { # NAME WHAT COMMAND
    printf '# %s: written by the Warewulf runtime-services step (wwruntime); edits are lost\n' "$WWRT_MARK"
    printf '# %s: %s\n' "$1" "$2"
    printf 'SHELL=/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\n'
    printf '%s root %s\n' "$WWRT_SCHEDULE" "$3"
}

wwrt_install_cron() {
    wwrt_mkdir etc/cron.d || return 1
    wwrt_cron_file wwupdatefiles "$WWRT_DESC_FILES" \
        "mkdir -p $WWRT_LOGDIR; WWGETFILES_INTERVAL=$WWRT_SPLAY /warewulf/bin/wwgetfiles --max-run $WWRT_MAXRUN >$WWRT_LOGDIR/wwgetfiles.log 2>&1" |
        wwrt_put etc/cron.d/wwupdatefiles 0644 || return 1
    wwrt_track_at f etc/cron.d/wwupdatefiles || return 1
    wwrt_cron_file wwrunscript "$WWRT_DESC_SCRIPT" "$(wwrt_cmd_script "$WWRT_MAXRUN")" |
        wwrt_put etc/cron.d/wwrunscript 0644 || return 1
    wwrt_track_at f etc/cron.d/wwrunscript || return 1
}

WWRT_DESC_FILES='Warewulf: update the provisioned files from the master (wwgetfiles)'
WWRT_DESC_SCRIPT="Warewulf: run the node's runtime script from the master (wwgetscript runtime)"

wwrt_unit_service() { # WHAT CONDITION ENV COMMAND
    printf '# %s: written by the Warewulf runtime-services step (wwruntime); edits are lost\n' "$WWRT_MARK"
    printf '[Unit]\nDescription=%s\nConditionPathExists=%s\nAfter=network-online.target\n\n' "$1" "$2"
    printf '[Service]\nType=oneshot\n'
    [ -n "$3" ] && printf 'Environment=%s\n' "$3"
    printf "ExecStart=/bin/sh -c '%s'\n" "$4"
}

wwrt_unit_timer() { # SERVICE DELAY
    printf '# %s: written by the Warewulf runtime-services step (wwruntime); edits are lost\n' "$WWRT_MARK"
    printf '[Unit]\nDescription=Run %s on schedule\n\n' "$1"
    printf '[Timer]\nOnCalendar=%s\nRandomizedDelaySec=%s\nAccuracySec=1s\n\n' "$WWRT_ONCALENDAR" "$2"
    printf '[Install]\nWantedBy=timers.target\n'
}

wwrt_install_systemd() {
    _u=etc/systemd/system
    wwrt_mkdir "$_u/timers.target.wants" || return 1
    wwrt_unit_service "$WWRT_DESC_FILES" /warewulf/bin/wwgetfiles WWGETFILES_INTERVAL=0 "$(wwrt_cmd_files "$WWRT_MAXRUN_TIMER")" |
        wwrt_put "$_u/wwupdatefiles.service" 0644 || return 1
    wwrt_unit_timer wwupdatefiles.service "$WWRT_SPLAY" | wwrt_put "$_u/wwupdatefiles.timer" 0644 || return 1
    wwrt_unit_service "$WWRT_DESC_SCRIPT" /warewulf/bin/wwgetscript '' "$(wwrt_cmd_script "$WWRT_MAXRUN")" |
        wwrt_put "$_u/wwrunscript.service" 0644 || return 1
    wwrt_unit_timer wwrunscript.service 0 | wwrt_put "$_u/wwrunscript.timer" 0644 || return 1
    for _n in wwupdatefiles.service wwupdatefiles.timer wwrunscript.service wwrunscript.timer; do
        wwrt_track_at f "$_u/$_n" || return 1
    done
    for _n in wwupdatefiles wwrunscript; do
        wwrt_link "/$_u/$_n.timer" "$_u/timers.target.wants/$_n.timer" || return 1
    done
}

# The log folder. In the Warewulf initramfs the init later moves its own /var/log/warewulf
# into NEWROOT/var/log/ with busybox mv, which fails (across file systems) when the target
# folder already exists: then we leave its creation to that move (the jobs mkdir -p it too).
wwrt_install_logdir() {
    if [ "$WWRT_MODE" = boot ] && [ -n "$WWRT_ROOT" ] && [ -e "$WWRT_HOST/init" ] &&
        [ -d "$WWRT_HOST/var/log/warewulf" ] && ! wwrt_exists var/log/warewulf &&
        [ "${WWBOOTSTRAPLOGS:-/var/log}" = /var/log ]; then
        wwrt_say "$WWRT_LOGDIR will be moved into place by the bootstrap's init"
    else
        wwrt_mkdir var/log/warewulf || return 1
    fi
    wwrt_track_at o var/log/warewulf/wwgetfiles.log &&
        wwrt_track_at o var/log/warewulf/wwrunscript.log
}

# ---- what upstream's 60-runtimesupport left in NEWROOT (boot mode, before this step runs)
# It copies /warewulf/transports/$WWTRANSPORT (and http for https) into NEWROOT/warewulf/transports/,
# links NEWROOT/warewulf/bin/* into that copy, appends its config lines and writes both cron
# files. Our links and config replace its links and lines; this removes the rest, so the node
# ends with exactly what this step installs: the transport copy (each file only when it is
# identical to the initramfs's own, so nothing the VNFS brought is touched) and, when the
# jobs are systemd timers, upstream's two cron files (only when every line is one of its job
# lines: a cron daemon installed later, or systemd-cron, would run them beside the timers).
wwrt_upstream_cron() { # REL: true when the file holds only upstream-style job lines
    wwrt_path "$1" || return 1
    _u_f=$WWRT_P
    if [ ! -f "$_u_f" ] || [ -L "$_u_f" ]; then return 1; fi
    grep -q "$WWRT_MARK" "$_u_f" 2>/dev/null && return 1
    _u_any=
    while IFS= read -r _u_line || [ -n "$_u_line" ]; do
        case $_u_line in
            '') ;;
            *' root '*/warewulf/bin/wwgetfiles* | *' root '*/warewulf/bin/wwgetscript\ runtime*) _u_any=1 ;;
            *) return 1 ;;
        esac
    done <"$_u_f"
    [ -n "$_u_any" ]
}

wwrt_drop_upstream() { # SCHEDULER
    if [ "$WWRT_MODE" != boot ] || [ -z "$WWRT_ROOT" ]; then return 0; fi
    _d_ts=${WWTRANSPORT:-http}
    [ "$_d_ts" = https ] && _d_ts="https http"
    for _d_t in $_d_ts; do
        wwrt_safe_rel "warewulf/transports/$_d_t" || continue
        # the copy itself (not followed when it is a link: then it is not upstream's copy)
        wwrt_path "warewulf/transports/$_d_t" || continue
        _d_dst=$WWRT_P
        _d_src="$WWRT_HOST/warewulf/transports/$_d_t"
        if [ ! -d "$_d_dst" ] || [ -L "$_d_dst" ] || [ ! -d "$_d_src" ]; then continue; fi
        for _d_f in "$_d_dst"/* "$_d_dst"/.[!.]*; do
            if [ ! -f "$_d_f" ] || [ -L "$_d_f" ]; then continue; fi
            if cmp -s "$_d_f" "$_d_src/${_d_f##*/}" 2>/dev/null; then rm -f "$_d_f"; fi
        done
        rmdir "$_d_dst" 2>/dev/null && wwrt_say "removed the copy of the $_d_t transport (60-runtimesupport): the tools are in /warewulf/bin"
    done
    wwrt_path warewulf/transports && [ ! -L "$WWRT_P" ] && rmdir "$WWRT_P" 2>/dev/null
    if [ "$1" = systemd ]; then
        for _d_c in wwupdatefiles wwrunscript; do
            if wwrt_upstream_cron "etc/cron.d/$_d_c"; then
                rm -f "$WWRT_P" && wwrt_say "removed upstream's /etc/cron.d/$_d_c (the systemd timers run the jobs)"
            fi
        done
    fi
    return 0
}

# ---- removal of what an earlier run installed and this one did not

wwrt_remove_entry() { # TYPE REL
    wwrt_safe_rel "$2" || return 0
    # resolved again (the last component not followed): what is removed is inside NEWROOT
    wwrt_path "$2" || return 0
    _r_p=$WWRT_P
    case $1 in
        f)
            if [ -f "$_r_p" ] && [ ! -L "$_r_p" ] && grep -q "$WWRT_MARK" "$_r_p" 2>/dev/null; then rm -f "$_r_p"; fi
            ;;
        x | o) if [ -f "$_r_p" ] && [ ! -L "$_r_p" ]; then rm -f "$_r_p"; fi ;;
        l) if [ -L "$_r_p" ]; then rm -f "$_r_p"; fi ;;
        c) wwrt_strip_config ;;
    esac
    return 0
}

wwrt_cleanup() {
    _dirs=
    while read -r _e_t _e_r; do
        [ -n "$_e_t" ] || continue
        wwrt_in "$_e_t $_e_r" "$WWRT_NEW" && continue
        if [ "$_e_t" = d ]; then
            _dirs="$_dirs$_e_r$WWRT_NL"
        else
            wwrt_remove_entry "$_e_t" "$_e_r"
        fi
    done <<EOF
$WWRT_OLD
EOF
    [ -n "$_dirs" ] || return 0
    # deepest first: in reverse order a folder comes before its parent
    printf '%s' "$_dirs" | sort -r | while read -r _e_r; do
        if wwrt_safe_rel "$_e_r" && wwrt_path "$_e_r" && [ -d "$WWRT_P" ] && [ ! -L "$WWRT_P" ]; then
            rmdir "$WWRT_P" 2>/dev/null
        fi
    done
    return 0
}

wwrt_write_manifest() {
    if [ -z "$WWRT_NEW" ]; then
        wwrt_path "$WWRT_MANIFEST" && rm -f "$WWRT_P"
        return 0
    fi
    printf '%s' "$WWRT_NEW" | wwrt_put "$WWRT_MANIFEST" 0644
}

# ---- run record: NEWROOT/var/lib/wwruntime/status/boot.json, read by `wwruntime status` and the
# tools' node_exporter textfile (src/core/status/record.ts has the format). Boot mode only. Written
# at the start as "started" (carrying the last finished run of a record this step wrote), then as
# "finished" with the exit status and the last error line; atomically and confined (wwrt_put).
# A record that cannot be written changes nothing else: one line after a step that succeeded,
# none after one that failed (its own error line says what is wrong with the image).

# Prints VALUE as a JSON string: \ and " escaped, control characters as spaces, cut at 300 characters.
wwrt_json() {
    _j_rest=$1
    _j_out=
    _j_n=0
    while [ -n "$_j_rest" ] && [ "$_j_n" -lt 300 ]; do
        _j_c=${_j_rest%"${_j_rest#?}"}
        _j_rest=${_j_rest#?}
        case $_j_c in
            \\ | \") _j_out="$_j_out\\$_j_c" ;;
            [[:cntrl:]]) _j_out="$_j_out " ;;
            *) _j_out="$_j_out$_j_c" ;;
        esac
        _j_n=$((_j_n + 1))
    done
    [ -n "$_j_rest" ] && _j_out="$_j_out..."
    printf '"%s"' "$_j_out"
}

WWRT_RECORD=var/lib/wwruntime/status/boot.json

# wwrt_record started | finished STATUS. The first line of the file holds this run (no "previous"),
# the second the last finished run before it; nothing older is kept.
wwrt_record() {
    [ "$WWRT_MODE" = boot ] && [ -n "${NEWROOT:-}" ] && [ -d "$NEWROOT" ] || return 0
    if [ -e "$NEWROOT/.wwgetvnfs-incomplete" ] || [ -L "$NEWROOT/.wwgetvnfs-incomplete" ]; then return 0; fi
    WWRT_ROOT=${NEWROOT%/}
    _s_now=$(date +%s 2>/dev/null) || _s_now=
    # without date (optional, like cmp) there is no time to record: silently none
    case $_s_now in '' | *[!0-9]*) return 0 ;; esac
    if [ "$1" = started ]; then
        WWRT_REC_START=$_s_now
        WWRT_REC_LAST=null
        WWRT_REC_PREV=null
        # the old record only as this step writes it: a regular file, first line ours
        if wwrt_path "$WWRT_RECORD" && [ -f "$WWRT_P" ] && [ ! -L "$WWRT_P" ]; then
            { IFS= read -r _s_l1 && IFS= read -r _s_l2; } <"$WWRT_P" 2>/dev/null || _s_l1=
            case $_s_l1 in
                '{"format":1,"tool":"boot","state":"finished",'*',"lastSuccess":'*',')
                    _s_f=${_s_l1#'{"format":1,"tool":"boot",'}
                    WWRT_REC_PREV="{${_s_f%,\"lastSuccess\":*}}"
                    ;;
                '{"format":1,"tool":"boot","state":"started",'*',"lastSuccess":'*',')
                    _s_p=${_s_l2#'"previous":'}
                    WWRT_REC_PREV=${_s_p%\}}
                    ;;
                *) _s_l1= ;;
            esac
            if [ -n "$_s_l1" ]; then
                _s_ls=${_s_l1##*,\"lastSuccess\":}
                _s_ls=${_s_ls%,}
                case $_s_ls in '' | *[!0-9.]*) ;; *) WWRT_REC_LAST=$_s_ls ;; esac
                case $WWRT_REC_PREV in '{"state":"finished",'*'}') ;; *) WWRT_REC_PREV=null ;; esac
            fi
        fi
        _s_facts="\"state\":\"started\",\"start\":$_s_now,\"end\":null,\"exit\":null,\"error\":null"
    else
        _s_err=null
        [ "$2" = 0 ] || _s_err=$(wwrt_json "${WWRT_ERR:-exit status $2}")
        [ "$2" = 0 ] && WWRT_REC_LAST=$_s_now
        _s_facts="\"state\":\"finished\",\"start\":${WWRT_REC_START:-$_s_now},\"end\":$_s_now,\"exit\":$2,\"error\":$_s_err"
    fi
    _s_master=null
    [ -n "${WWMASTER:-}" ] && _s_master=$(wwrt_json "$WWMASTER")
    _s_facts="$_s_facts,\"master\":$_s_master,\"counts\":null,\"markBefore\":null,\"markAfter\":null,\"version\":\"$WWRT_VERSION\",\"pid\":$$"
    _s_keep=${WWRT_ERR:-}
    if wwrt_mkdir "${WWRT_RECORD%/*}" >/dev/null 2>&1 &&
        printf '{"format":1,"tool":"boot",%s,"lastSuccess":%s,\n"previous":%s}\n' "$_s_facts" "${WWRT_REC_LAST:-null}" "${WWRT_REC_PREV:-null}" |
        wwrt_put "$WWRT_RECORD" 0644 2>/dev/null; then
        WWRT_ERR=$_s_keep
        return 0
    fi
    WWRT_ERR=$_s_keep
    # said only for a step that succeeded: a failed one's own line already tells what is wrong with the image
    [ "$1:${2:-}" = finished:0 ] && wwrt_say "could not write the run record $NEWROOT/$WWRT_RECORD"
    return 0
}

# ---- entry points

# Before anything is written: every folder the install creates or writes into resolves inside
# NEWROOT (no cycle, no unreadable link) to a folder or to nothing yet, and no name it writes is
# a real folder. A bad image then fails with one line and is left exactly as it was, instead of
# failing half-way through.
wwrt_preflight() { # SCHEDULER
    _f_u=etc/systemd/system
    if [ "$1" = systemd ]; then _f_dirs="$_f_u $_f_u/timers.target.wants"; else _f_dirs=etc/cron.d; fi
    for _f_d in warewulf warewulf/bin warewulf/lib var/log/warewulf $_f_dirs; do
        wwrt_mkdir "$_f_d" check || return 1
    done
    if [ "$1" = systemd ]; then
        _f_names="$_f_u/wwupdatefiles.service $_f_u/wwupdatefiles.timer $_f_u/wwrunscript.service $_f_u/wwrunscript.timer $_f_u/timers.target.wants/wwupdatefiles.timer $_f_u/timers.target.wants/wwrunscript.timer"
    else
        _f_names='etc/cron.d/wwupdatefiles etc/cron.d/wwrunscript'
    fi
    _f_names="$_f_names warewulf/config $WWRT_MANIFEST warewulf/lib/NOTICE warewulf/bin/wwruntime"
    for _f_n in $WWRT_LIBS; do _f_names="$_f_names warewulf/lib/$_f_n"; done
    for _f_n in $WWRT_TOOLS; do _f_names="$_f_names warewulf/bin/$_f_n"; done
    for _f_n in $_f_names; do
        wwrt_path "$_f_n" || return 1
        if [ -d "$WWRT_P" ] && [ ! -L "$WWRT_P" ]; then
            wwrt_err "$WWRT_P is a directory"
            return 1
        fi
    done
    wwrt_lib_ours || return 1
    wwrt_space
}

# When the image's links lead warewulf/lib into a folder of the image's own (/warewulf -> /,
# /warewulf/lib -> /lib: inside NEWROOT, so confinement allows it), the C runtime would replace
# the image's glibc, and a later removal would delete it: the node would not boot. A file at one
# of our library names there is replaced only when an earlier install of ours put it there (the
# manifest lists it); identical contents do not make it ours (removing it would still break the
# image). A warewulf/lib that is a real folder is ours by name, as before.
wwrt_lib_ours() {
    wwrt_path warewulf/lib all || return 1
    _o_lib=$WWRT_R
    [ "$_o_lib" = warewulf/lib ] && return 0
    for _o_n in NOTICE $WWRT_LIBS; do
        wwrt_path "warewulf/lib/$_o_n" || return 1
        if { [ -e "$WWRT_P" ] || [ -L "$WWRT_P" ]; } && ! wwrt_in "x $WWRT_R" "$WWRT_OLD"; then
            wwrt_err "$WWRT_P belongs to the image (warewulf/lib leads to /$_o_lib, and no earlier install of ours put this file there): not overwriting it, not installing"
            return 1
        fi
    done
    return 0
}

# Size of a file in bytes (0 when there is none, or only a symbolic link: replacing it frees nothing).
wwrt_size() { # FILE
    if [ -f "$1" ] && [ ! -L "$1" ]; then
        _z=$(wc -c <"$1") || return 1
        echo $((_z + 0))
    else
        echo 0
    fi
}

# Before anything is written: the file system that will hold NEWROOT/warewulf has room for the
# runtime (the executable and its C runtime, ~115 MB; files already at their names are replaced,
# and each old one stays until its new copy is renamed over it). A full NEWROOT is refused
# here with one line instead of leaving lib/ installed and bin/ empty. Without df, or on a file
# system that reports no size (ramfs): not checked.
wwrt_space() {
    command -v df >/dev/null 2>&1 || return 0
    _s_new=0
    _s_old=0
    _s_max=0
    # shellcheck disable=SC2046 # one word per name, no blanks in them
    set -- $(wwrt_bin_sources)
    if [ -z "${WWRUNTIME_STANDALONE:-}" ]; then set -- wwruntime; fi
    _s_pairs="NOTICE:warewulf/lib/NOTICE"
    for _s_l in $WWRT_LIBS; do _s_pairs="$_s_pairs lib/$_s_l:warewulf/lib/$_s_l"; done
    if [ -z "${WWRUNTIME_STANDALONE:-}" ]; then
        _s_pairs="$_s_pairs bin/wwruntime:warewulf/bin/wwruntime"
    else
        for _s_t in $WWRT_TOOLS; do
            _s_pairs="$_s_pairs bin/$1:warewulf/bin/$_s_t"
            shift
        done
    fi
    # where warewulf/ is, or will be
    wwrt_path warewulf all || return 1
    _s_at=$WWRT_P
    [ -d "$_s_at" ] || _s_at=${WWRT_ROOT:-/}
    wwrt_free_kib "$_s_at"
    [ -n "$WWRT_FREE" ] || return 0
    _s_free=$WWRT_FREE
    # first by sizes alone; only when that does not fit, identical copies (which the install
    # keeps as they are: wwrt_copy) are left out, at the price of reading them
    for _s_same in '' cmp; do
        _s_new=0
        _s_old=0
        _s_max=0
        for _s_p in $_s_pairs; do
            wwrt_path "${_s_p#*:}" || return 1
            if [ -n "$_s_same" ] && [ -f "$WWRT_P" ] && cmp -s "$WWRT_BIN/${_s_p%%:*}" "$WWRT_P" 2>/dev/null; then continue; fi
            _s_n=$(wwrt_size "$WWRT_BIN/${_s_p%%:*}") || return 1
            _s_o=$(wwrt_size "$WWRT_P") || return 1
            _s_new=$((_s_new + _s_n))
            _s_old=$((_s_old + _s_o))
            [ "$_s_o" -gt "$_s_max" ] && _s_max=$_s_o
        done
        _s_need=$(((_s_new - _s_old + _s_max) / 1024 + 1))
        [ "$_s_free" -ge "$_s_need" ] && return 0
        command -v cmp >/dev/null 2>&1 || break
    done
    if [ "$_s_free" -lt "$_s_need" ]; then
        wwrt_err "no space for the runtime in ${WWRT_ROOT:-}/warewulf: $_s_need KiB needed, $_s_free KiB free there: not installing"
        return 1
    fi
    return 0
}

# Removes everything an earlier run recorded. Status 0 removed, 1 nothing to remove.
wwrt_remove() {
    wwrt_init || return 2
    [ -n "$WWRT_OLD" ] || return 1
    wwrt_cleanup
    # the manifest lives in warewulf/, which may be one of the folders to remove
    wwrt_path "$WWRT_MANIFEST" && rm -f "$WWRT_P"
    WWRT_NEW=
    _old=$WWRT_OLD
    WWRT_OLD=$(printf '%s' "$_old" | while read -r _t _r; do [ "$_t" = d ] && printf 'd %s\n' "$_r"; done)
    WWRT_OLD="$WWRT_OLD$WWRT_NL"
    wwrt_cleanup
    wwrt_say "removed the runtime services from ${WWRT_ROOT:-/}"
    return 0
}

wwrt_install() {
    wwrt_init || return 2
    if [ "$WWRT_MODE" = boot ] && ! wwrt_find_master; then
        echo "ERROR: Could not identify master node!" >&2
        WWRT_ERR='Could not identify master node!'
        return 2
    fi
    wwrt_find_runtime || return 2
    wwrt_job_settings
    wwrt_config_keys
    _sched=$(wwrt_scheduler)
    wwrt_preflight "$_sched" || return 2
    _ok=0
    wwrt_mkdir warewulf &&
        wwrt_install_bin &&
        if [ -n "$WWRT_CFGKEYS" ]; then wwrt_write_config "$WWRT_CFGKEYS"; else wwrt_strip_config; fi &&
        wwrt_install_logdir &&
        if [ "$_sched" = systemd ]; then wwrt_install_systemd; else wwrt_install_cron; fi ||
        _ok=2
    if [ "$_ok" = 0 ]; then
        wwrt_cleanup
        wwrt_drop_upstream "$_sched"
    else
        # keep the record of everything, so that a later run can still remove it
        while read -r _e; do
            [ -n "$_e" ] && ! wwrt_in "$_e" "$WWRT_NEW" && wwrt_track "$_e"
        done <<EOF
$WWRT_OLD
EOF
    fi
    wwrt_write_manifest || _ok=2
    if [ "$_ok" = 0 ]; then
        if [ -n "${WWRUNTIME_STANDALONE:-}" ]; then _how=standalone; else _how=multi-call; fi
        wwrt_say "installed the runtime services into ${WWRT_ROOT:-/} ($WWRT_ARCH, $_how, $_sched, C runtime in /warewulf/lib)"
    fi
    return $_ok
}

# The step: install, or when WWNORUNTIMESERVICES is set remove an earlier install.
# A node with WWNORUNTIMESERVICES gets no run record either: it pays nothing beyond the step.
wwrt_main() {
    if [ -n "${WWNORUNTIMESERVICES:-}" ]; then
        wwrt_remove
        return
    fi
    wwrt_record started
    wwrt_install
    _m_rc=$?
    wwrt_record finished "$_m_rc"
    return $_m_rc
}
