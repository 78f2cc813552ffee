#!/bin/sh
# Runs as root inside new mount and PID namespaces (emulation.py): bind what
# the run needs, then enter the root. Arguments: root, working directory,
# directories to bind read-write, "--", read-only ones, "--", the command.
# $DEV is empty for a bare root, which gets nothing of the host's.
# MOUNT, UNSHARE and DEV come from the caller's environment.
# shellcheck disable=SC2153
root=$1 wd=$2 mount=$MOUNT unshare=$UNSHARE dev=$DEV; shift 2
unset MOUNT UNSHARE DEV PWD  # sh exports PWD; the program starts elsewhere
while [ "$1" != -- ]; do "$mount" --bind "$1" "$root$1"; shift; done; shift
while [ "$1" != -- ]; do "$mount" --bind -o ro "$1" "$root$1"; shift; done; shift
[ -z "$dev" ] || "$mount" --rbind /dev "$root/dev"
# Not exec: this shell stays the namespace's PID 1 and the program its child.
# A PID 1 never gets the signals it sends itself, so a crashing program that
# raises its own (qemu does, for the program it emulates) would hang instead.
"$unshare" --root="$root" --wd="$wd" "$@"
exit $?
