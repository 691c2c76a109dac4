#!/bin/sh
# A stand-in for upstream Warewulf 3's wwgetfiles (transport-http) as PROTOCOL section 3 describes
# it, for the storm rig (bench/storm/). Written for the rig from the description; the loop is the
# same: the file list from each master in turn, then for every line one download process on a
# fresh connection, one at a time, `mkdir -p`, chmod/mv/chown/chgrp/ln/mkdir as separate
# processes; the first failed download ends the loop (`exit 2` inside the pipeline's subshell, so
# the script itself still exits 0: upstream defect 1; the rig counts the ERROR line); no master:
# the back-off of upstream's functions file (sleep 2 s, 4 s, 6 s, ... 30 rounds; with WWDEBUG set,
# as the initramfs always sets it, 10 rounds and no sleep at all).
# Deviations, all forced by one host simulating many nodes:
# - curl (the development branch's downloader) with no source-port option (upstream binds 100-1023);
# - the lock file and mktemp's files live under $NEWROOT/tmp, not the shared /tmp;
# - "/init" (the initramfs test of the start delay) is looked up under $WWSTORM_SYSROOT; the rig
#   passes SLEEPTIME/WWGETFILES_INTERVAL itself, so it sleeps only when told to.
if [ -n "$SET_X" ]; then
    set -x
fi

mkdir -p "$NEWROOT/tmp"
LOCKF="$NEWROOT/tmp/.wwgetfile.lock"
if [ ! -f "$LOCKF" ]; then
    touch "$LOCKF"
else
    echo "ERROR: wwgetfiles already running"
    exit 1
fi
TMPDIR="$NEWROOT/tmp"
export TMPDIR

# upstream's functions file: retry rounds and the master
START=0
BACKOFF=2
INTERVALS=30
COUNT=1
if [ -n "$WWDEBUG" ]; then
    START=0
    BACKOFF=0
    INTERVALS=10
fi
if [ -z "$WWMASTER" ]; then
    echo "ERROR: Could not identify master node!"
    exit 2
fi
throttled_sleep() {
    if [ $COUNT -ge $INTERVALS ]; then
        rm -f "$LOCKF"
        exit 2
    fi
    COUNT=`expr $COUNT + 1`
    START=`expr $START + $BACKOFF`
    sleep $START
}

WWGETFILES_INTERVAL=${WWGETFILES_INTERVAL:-180}
if [ -n "$WWGETFILES_INTERVAL" -a "$WWGETFILES_INTERVAL" -gt 0 ]; then
    if [ ! -f "$WWSTORM_SYSROOT/init" ]; then
        if [ -z "$SLEEPTIME" ]; then
            SLEEPTIME=`expr $(od -An -N2 -tu2 /dev/urandom) % $WWGETFILES_INTERVAL`
        fi
        sleep $SLEEPTIME
    fi
fi

TIMESTAMP_FILE="$NEWROOT/tmp/.wwgetfiles_timestamp"
if [ "$1" = "-F" ]; then
    rm -f "$TIMESTAMP_FILE"
elif [ -f "$TIMESTAMP_FILE" ]; then
    # The rig's NEWROOT only redirects a running node's files into its scratch root
    # (WWSTORM_RUNNING_NODE, cron mode): upstream reads the mark where NEWROOT is unset.
    if [ -z "$NEWROOT" ] || [ -n "$WWSTORM_RUNNING_NODE" ]; then
        TIMESTAMP=`cat $TIMESTAMP_FILE`
    fi
fi

while true; do
    for master in `echo $WWMASTER | sed -e 's/,/ /g'`; do
        TMPFILE=`mktemp`
        if curl -s -f -o "$TMPFILE" "http://$master/WW/file?hwaddr=$WWINIT_HWADDR&timestamp=$TIMESTAMP"; then
            cat $TMPFILE | while read id name uid gid mode timestamp path; do
                basedir=`dirname $path`
                case "$mode" in
                    d*) ftype=d ; mode=`echo $mode | sed 's/^d//'` ;;
                    l*) ftype=l ; mode=`echo $mode | sed 's/^l//'` ;;
                    b*) ftype=b ; mode=`echo $mode | sed 's/^b//'` ;;
                    c*) ftype=c ; mode=`echo $mode | sed 's/^c//'` ;;
                    p*) ftype=p ; mode=`echo $mode | sed 's/^p//'` ;;
                    s*) ftype=s ; mode=`echo $mode | sed 's/^s//'` ;;
                    *)  ftype=f ;;
                esac
                if [ ! -d "$NEWROOT/$basedir" ]; then
                    mkdir -p "$NEWROOT/$basedir"
                fi
                if curl -s -f -o "$NEWROOT/$path.ww$timestamp" "http://$master/WW/file?hwaddr=$WWINIT_HWADDR&fileid=$id"; then
                    if [ "$ftype" = "l" ]; then
                        ln -s -f `cat "$NEWROOT/$path.ww$timestamp"` "$NEWROOT/$path"
                        rm -f "$NEWROOT/$path.ww$timestamp"
                    elif [ "$ftype" = "d" ]; then
                        if [ -e "$NEWROOT/$path" -a ! -d "$NEWROOT/$path" ]; then
                            mv -f "$NEWROOT/$path" "$NEWROOT/$path.ww`date '+%Y%m%d%H%M%S'`"
                        fi
                        mkdir -m $mode -p "$NEWROOT/$path"
                        chown -h $uid "$NEWROOT/$path"
                        chgrp -h $gid "$NEWROOT/$path"
                        if [ -f "$NEWROOT/$path.ww$timestamp" ]; then
                            rm -f "$NEWROOT/$path.ww$timestamp"
                        fi
                    else
                        if [ "$ftype" = "b" -o "$ftype" = "c" ]; then
                            devno=`cat "$NEWROOT/$path.ww$timestamp"`
                            major=`expr $devno / 256`
                            minor=`expr $devno % 256`
                            rm -f "$NEWROOT/$path.ww$timestamp"
                            mknod -m $mode "$NEWROOT/$path.ww$timestamp" $ftype $major $minor
                        elif [ "$ftype" = "p" ]; then
                            rm -f "$NEWROOT/$path.ww$timestamp"
                            mknod -m $mode "$NEWROOT/$path.ww$timestamp" p
                        elif [ "$ftype" = "s" ]; then
                            : # not supported upstream either
                        else
                            chmod $mode "$NEWROOT/$path.ww$timestamp"
                        fi
                        mv "$NEWROOT/$path.ww$timestamp" "$NEWROOT/$path"
                        chown $uid "$NEWROOT/$path"
                        chgrp $gid "$NEWROOT/$path"
                    fi
                    echo $timestamp > $TIMESTAMP_FILE
                else
                    echo "ERROR: Could not download $name"
                    rm -f $NEWROOT/$path.ww $NEWROOT/$path.ww$timestamp
                    rm -f "$LOCKF"
                    exit 2
                fi
            done
            rm -f $TMPFILE
            rm -f "$LOCKF"
            exit 0
        fi
        rm -f $TMPFILE
    done
    echo -n "." 1>&2
    throttled_sleep
done
