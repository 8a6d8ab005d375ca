#!/usr/bin/env bash
# The IMAP polling test runs a throwaway Dovecot of its own; install Debian's when it is missing.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "Installing Debian's dovecot-imapd for the IMAP test…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dovecot-imapd >/dev/null
# The package may try to start a system-wide Dovecot; the test starts its own on a spare port.
command -v dovecot >/dev/null || test -x /usr/sbin/dovecot
